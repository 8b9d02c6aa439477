/**
 * The engine: the node-facing part of the chain for one node,
 *
 *   remote (connect to the node) → playbook (rank, capture) → analysis (resolve, classify, verdict)
 *
 * `triageNode` never throws: every failure becomes a `failed` verdict with its reason. The whole chain around
 * it (intake, dispatch, report, store, notify) is put together in service.ts; the CLI uses `triageNode` and
 * `renderReport` directly.
 */
import type { Config, NodeConfig } from './config/schema.js';
import { asTriageError, TriageError } from './errors.js';
import type { CaptureFacts, RankFacts, Tier, TierRequest } from './model/facts.js';
import type { StepName, StepTiming, TriageResult, Trigger } from './model/triage.js';
import { connectorFor } from './remote/connect.js';
import type { Connector, NodeSession, StepOutput } from './remote/session.js';
import {
  captureArgs,
  captureTimeoutSeconds,
  newNonce,
  overlappedRankTimeoutSeconds,
  playbookScript,
  rankArgs,
  rankTimeoutSeconds,
} from './playbook/steps.js';
import { parseCapture, parseRank, tracerUnavailable } from './playbook/parse.js';
import { rankProcesses } from './analysis/rank.js';
import { analyze } from './analysis/analyze.js';
import { failureVerdict } from './model/failure.js';
import type { Log } from './log.js';

export interface Progress {
  step: StepName | 'done';
  /** Length of a timed window, for a countdown. */
  seconds?: number;
}

export interface TriageOptions {
  sampleSeconds?: number;
  captureSeconds?: number;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** For tests and tools: how to reach the node (default: local or SSH from the node's config). */
  connector?: Connector;
  /**
   * Where a failure's private detail goes (the error it was caused by: file paths, library messages). The
   * verdict, which Slack and the report show, carries only the failure's own message.
   */
  log?: Log;
}

/**
 * The tracer that last recorded on each node (by node name), so that an overlapped capture starts the one that
 * works instead of trying each in turn inside the window. Forgotten when it fails; `auto` then finds another.
 */
const tracerThatWorked = new Map<string, Tier>();

/** For tests: forget what was learned about the nodes' tracers. */
export function forgetNodeTracers(): void {
  tracerThatWorked.clear();
}

export async function triageNode(config: Config, node: NodeConfig, trigger: Trigger, options: TriageOptions = {}): Promise<TriageResult> {
  const pb = config.playbook;
  const sampleSeconds = options.sampleSeconds ?? pb.sampleSeconds;
  const captureSeconds = options.captureSeconds ?? pb.captureSeconds;
  const progress = options.onProgress ?? (() => {});
  const startedAt = new Date();
  const timings: StepTiming[] = [];
  const address = node.local ? 'local' : `${node.ssh!.host}:${node.ssh!.port}`;

  // One deadline for the whole triage. Each remote step is bounded by the node's `timeout` too,
  // never past what is left of the deadline, so nothing keeps running on the node after we give up.
  const deadlineMs = (sampleSeconds + captureSeconds + pb.deadlineSlackSeconds) * 1000;
  const deadlineAt = Date.now() + deadlineMs;
  const deadline = AbortSignal.timeout(deadlineMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;

  const timed = async <T>(step: StepName, fn: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      timings.push({ step, ms: Math.round(performance.now() - t0) });
    }
  };

  let session: NodeSession | undefined;
  let rank: RankFacts | undefined;
  const base = { node: node.name, address, trigger, startedAt: startedAt.toISOString(), window: { sampleSeconds, captureSeconds } };
  try {
    const connector = options.connector ?? connectorFor(node);
    const script = playbookScript();
    const step = async (name: 'rank' | 'capture', args: string[], stepSeconds: number): Promise<StepOutput> => {
      const left = Math.floor((deadlineAt - Date.now()) / 1000);
      if (left < 1) throw new TriageError('deadline_exceeded', `no time left for the ${name} step within the ${deadlineMs / 1000} s deadline`);
      const out = await session!.run({
        script,
        args,
        timeoutSeconds: Math.min(stepSeconds, left),
        maxOutputBytes: pb.maxOutputBytes,
        signal,
      });
      return checkStep(name, out);
    };

    progress({ step: 'connect' });
    session = await timed('connect', () => withDeadline(connector.open(node, { signal }), signal));

    const overlapped = pb.mode === 'overlapped';
    // A tracer learned on this node is asked for by name; `auto` (or the configured tier) otherwise.
    const learned = pb.tracer === 'auto' ? tracerThatWorked.get(node.name) : undefined;
    const overlapTier: TierRequest = learned ?? pb.tracer;
    progress({ step: 'rank', seconds: overlapped ? Math.max(sampleSeconds, captureSeconds) : sampleSeconds });
    const rankNonce = newNonce();
    let overlapCapture = null as CaptureFacts | null; // set inside the timed rank step
    rank = await timed('rank', async () => {
      if (!overlapped) {
        return parseRank((await step('rank', rankArgs(rankNonce, sampleSeconds), rankTimeoutSeconds(sampleSeconds))).stdout, rankNonce);
      }
      const out = await step(
        'rank',
        rankArgs(rankNonce, sampleSeconds, { captureSeconds, tier: overlapTier }),
        overlappedRankTimeoutSeconds(sampleSeconds, captureSeconds),
      );
      const { rankPart, capturePart } = splitOverlapped(out.stdout, rankNonce);
      overlapCapture = capturePart === null ? null : parseCapture(capturePart, rankNonce);
      return parseRank(rankPart, rankNonce);
    });

    // Sequential, or the overlapped capture did not record (cut, or the learned tracer failed this time): trace
    // only the processes that faulted; none faulting → system-wide, to catch short-lived ones.
    let capture: CaptureFacts | null = overlapCapture;
    if (capture !== null && learned !== undefined && capture.tier !== learned) {
      tracerThatWorked.delete(node.name);
      capture = null;
    }
    if (capture === null) {
      const top = rankProcesses(rank, pb.topProcesses)
        .filter((p) => p.majflt > 0)
        .map((p) => p.pid);
      progress({ step: 'capture', seconds: captureSeconds });
      const captureNonce = newNonce();
      capture = await timed('capture', async () =>
        parseCapture(
          (await step('capture', captureArgs(captureNonce, captureSeconds, pb.tracer, top), captureTimeoutSeconds(captureSeconds))).stdout,
          captureNonce,
        ),
      );
    }
    if (capture.tier !== 'none') tracerThatWorked.set(node.name, capture.tier);
    const forcedMissing = tracerUnavailable(capture);
    if (forcedMissing) throw forcedMissing;

    progress({ step: 'resolve' });
    const { analysis, verdict } = await timed('resolve', () =>
      analyze({
        node: node.name,
        rank: rank!,
        capture: capture!,
        topProcesses: pb.topProcesses,
        sampleSeconds,
        captureSeconds,
        overlapped: capture === overlapCapture,
      }),
    );
    progress({ step: 'done' });
    return { ...base, finishedAt: new Date().toISOString(), timings, nodeInfo: rank.node, verdict, analysis };
  } catch (err) {
    // Once the deadline or the caller aborted, a step's own `cancelled` (or a connection closed under it) is the
    // abort's doing: say which abort it was.
    const abortsDoing = !(err instanceof TriageError) || err.code === 'connection_lost' || err.code === 'cancelled';
    const e = signal.aborted && abortsDoing ? abortReason(options.signal, deadlineMs, err) : asTriageError(err);
    const cause = e.cause instanceof Error ? e.cause.message : e.cause === undefined ? undefined : String(e.cause);
    options.log?.warn({ node: node.name, code: e.code, cause }, `triage of ${node.name} failed: ${e.message}`);
    progress({ step: 'done' });
    return { ...base, finishedAt: new Date().toISOString(), timings, nodeInfo: rank?.node ?? null, verdict: failureVerdict(e, node.name), analysis: null };
  } finally {
    await session?.close().catch(() => {});
  }
}

/**
 * An overlapped rank's output: the rank step's sections, then the capture step's (same nonce). capturePart is
 * null when the capture's output is missing or cut (no end marker): the bot then runs the capture step itself.
 */
export function splitOverlapped(stdout: string, nonce: string): { rankPart: string; capturePart: string | null } {
  const marker = `@@pft:${nonce} begin step=capture `;
  const at = stdout.startsWith(marker) ? 0 : stdout.indexOf(`\n${marker}`);
  if (at < 0) return { rankPart: stdout, capturePart: null };
  const cut = at === 0 ? 0 : at + 1;
  const capturePart = stdout.slice(cut);
  const complete = capturePart.trimEnd().split('\n').at(-1)?.startsWith(`@@pft:${nonce} end step=capture `) ?? false;
  return { rankPart: stdout.slice(0, cut), capturePart: complete ? capturePart : null };
}

function abortReason(external: AbortSignal | undefined, deadlineMs: number, err: unknown): TriageError {
  if (external?.aborted) return new TriageError('cancelled', 'the triage was cancelled', { cause: err });
  return new TriageError('deadline_exceeded', `the node did not finish within the ${Math.round(deadlineMs / 1000)} s deadline`, { cause: err });
}

function withDeadline<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** A step that did not complete is an error; a flood past the cap is one too (the facts would be partial). */
function checkStep(name: string, out: StepOutput): StepOutput {
  if (out.truncated) {
    throw new TriageError('output_too_large', `the ${name} step printed more than the configured playbook.maxOutputBytes; its output was cut`);
  }
  if (out.exitCode === 124 || out.exitSignal === 'KILL' || out.exitCode === 137) {
    throw new TriageError('deadline_exceeded', `the ${name} step hit the node-side timeout`);
  }
  if (out.exitCode !== 0) {
    const detail = out.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 300) || `exit code ${out.exitCode ?? out.exitSignal}`;
    throw new TriageError('playbook_failed', `the ${name} step failed on the node: ${detail}`);
  }
  return out;
}
