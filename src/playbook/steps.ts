import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TriageError } from '../errors.js';
import { tierRequestSchema, type TierRequest } from '../model/facts.js';
import { playbookScriptPath } from '../paths.js';
import { NONCE_RE } from './sections.js';

/**
 * Argument lists for the playbook's steps (`sh -s -- ARGS` with the script on stdin). Every argument is a step
 * name, a validated integer, a tier name or the hex nonce, and matches SAFE_ARG: nothing else ever reaches a node.
 */

/** The only tokens a playbook argument may be (remote checks them again where the command is built). */
export const SAFE_ARG = /^(?:[a-z][a-z0-9-]{0,31}|[0-9]{1,10}|[0-9a-f]{8,64})$/;

/** Bounds the playbook itself enforces. */
export const PLAYBOOK_LIMITS = { minSeconds: 1, maxSeconds: 3600, maxPids: 256, maxPid: 4_194_304 } as const;

let scriptText: string | undefined;

/** The playbook script, read once from `playbookScriptPath`. */
export function playbookScript(): string {
  scriptText ??= readFileSync(playbookScriptPath, 'utf8');
  return scriptText;
}

/** A fresh random nonce for one step: 32 lowercase hex digits. */
export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

function checkNonce(nonce: string): string {
  if (!NONCE_RE.test(nonce)) throw new TriageError('internal', `invalid playbook nonce ${JSON.stringify(nonce)}`);
  return nonce;
}

function checkSeconds(what: string, n: number): string {
  if (!Number.isInteger(n) || n < PLAYBOOK_LIMITS.minSeconds || n > PLAYBOOK_LIMITS.maxSeconds) {
    throw new TriageError('config_invalid', `${what} must be an integer from ${PLAYBOOK_LIMITS.minSeconds} to ${PLAYBOOK_LIMITS.maxSeconds}, got ${n}`);
  }
  return String(n);
}

function safe(args: string[]): string[] {
  for (const a of args) {
    if (!SAFE_ARG.test(a)) throw new TriageError('internal', `unsafe playbook argument ${JSON.stringify(a)}`);
  }
  return args;
}

export function probeArgs(nonce: string): string[] {
  return safe(['probe', checkNonce(nonce)]);
}

/**
 * With `overlap`, the rank step also runs a system-wide capture from the start of its window (playbook.mode
 * `overlapped`); its output follows the rank's, as a whole capture step's.
 */
export function rankArgs(nonce: string, sampleSeconds: number, overlap?: { captureSeconds: number; tier: TierRequest }): string[] {
  const base = ['rank', checkNonce(nonce), checkSeconds('sampleSeconds', sampleSeconds)];
  if (!overlap) return safe(base);
  if (!tierRequestSchema.safeParse(overlap.tier).success) throw new TriageError('config_invalid', `unknown tracer tier ${JSON.stringify(overlap.tier)}`);
  return safe([...base, checkSeconds('captureSeconds', overlap.captureSeconds), overlap.tier]);
}

/** Node-side timeout of an overlapped rank: the longer window, and the capture's own allowance for perf script. */
export function overlappedRankTimeoutSeconds(sampleSeconds: number, captureSeconds: number): number {
  return Math.max(rankTimeoutSeconds(sampleSeconds), captureTimeoutSeconds(captureSeconds));
}

/** `pids` are deduplicated; an empty list means system-wide. */
export function captureArgs(nonce: string, seconds: number, tier: TierRequest, pids: readonly number[]): string[] {
  if (!tierRequestSchema.safeParse(tier).success) throw new TriageError('config_invalid', `unknown tracer tier ${JSON.stringify(tier)}`);
  const unique = [...new Set(pids)];
  if (unique.length > PLAYBOOK_LIMITS.maxPids) throw new TriageError('internal', `too many pids for one capture (${unique.length})`);
  for (const p of unique) {
    if (!Number.isInteger(p) || p < 1 || p > PLAYBOOK_LIMITS.maxPid) throw new TriageError('internal', `invalid pid ${p}`);
  }
  return safe(['capture', checkNonce(nonce), checkSeconds('captureSeconds', seconds), tier, ...unique.map(String)]);
}

/**
 * Suggested node-side `timeout` for each step, generous enough for a slow node: probe (a perf trial, ~0.5 s),
 * rank (SAMPLE_SECONDS + 1 snapshots), capture (in `auto`, a tier that fails late is followed by the next one,
 * and `perf script` needs time for a big recording).
 */
export function probeTimeoutSeconds(): number {
  return 20;
}

export function rankTimeoutSeconds(sampleSeconds: number): number {
  return sampleSeconds + 25;
}

export function captureTimeoutSeconds(seconds: number): number {
  return 3 * seconds + 60;
}
