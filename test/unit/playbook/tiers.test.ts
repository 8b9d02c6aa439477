/**
 * Tracer tier selection with each tool missing, on the real playbook run locally: the "node" is this machine
 * with PATH set to a directory of symlinks that leaves perf and/or bpftrace out, or a bpftrace stand-in in
 * (real bpftrace cannot attach here: RLIMIT_MEMLOCK cannot be raised), or run as `nobody` so that the kernel refuses perf
 * (kernel.perf_event_paranoid 2). First the capture step alone (what `attempts` says), then whole triages
 * (what the verdict and the report's Method section say). A paced file reader is the faulting process.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseCapture, tracerUnavailable } from '../../../src/playbook/parse.js';
import { playbookScriptPath } from '../../../src/paths.js';
import { newNonce } from '../../../src/playbook/steps.js';
import { triageNode } from '../../../src/pipeline.js';
import { renderReport } from '../../../src/report/markdown.js';
import type { CaptureFacts, TierRequest } from '../../../src/model/facts.js';
import {
  localConfig,
  NOBODY,
  perfEventParanoid,
  restrictedLocalConnector,
  toolDir,
  triageUnpolluted,
  waitForForeignGenerators,
} from '../../engine/helpers.js';
import { cleanupStaleTestState, startFileReader, stopAllGenerators, waitForMajorFaults, type FileGenerator } from '../../support/generators.js';

const SCRIPT = readFileSync(playbookScriptPath, 'utf8');

const dirs: Record<'none' | 'perfOnly' | 'bpftraceOnly' | 'both', string> = {} as never;
let tmp: string;
let reader: FileGenerator;

beforeAll(async () => {
  cleanupStaleTestState();
  dirs.none = toolDir({ perf: false, bpftrace: false });
  dirs.perfOnly = toolDir({ perf: true, bpftrace: false });
  dirs.bpftraceOnly = toolDir({ perf: false, bpftrace: true });
  dirs.both = toolDir({ perf: true, bpftrace: true });
  // One TMPDIR for every run here, writable by nobody too, so leftovers are easy to see.
  tmp = mkdtempSync(join(tmpdir(), 'pft-test-tiers-'));
  chmodSync(tmp, 0o1777);
  await waitForForeignGenerators([]);
  // Paced, so the faults it takes are known (and a mmap-read from /proc adds up: one page read per fault).
  reader = await startFileReader({ sizeMb: 32, pagesPerSec: 800 });
  await waitForMajorFaults(reader.pid, 400);
});

afterEach(() => {
  expect(readdirSync(tmp), 'the playbook left files in TMPDIR').toEqual([]);
});

afterAll(async () => {
  await stopAllGenerators();
  for (const d of Object.values(dirs)) if (d) rmSync(d, { recursive: true, force: true });
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function env(path: string): NodeJS.ProcessEnv {
  return { PATH: path, TMPDIR: tmp, LC_ALL: 'C', PFT_STANDIN_MAP: 'data.bin' };
}

/** `capture NONCE 1 TIER PID` with PATH = `path`, optionally as another user. */
function capture(path: string, tier: TierRequest, as?: { uid: number; gid: number }): Promise<CaptureFacts> {
  const nonce = newNonce();
  return new Promise((resolve, reject) => {
    const child = spawn('timeout', ['-k', '2', '40', 'sh', '-s', '--', 'capture', nonce, '1', tier, String(reader.pid)], {
      env: env(path),
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(as ?? {}),
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdin.on('error', () => {});
    child.stdin.end(SCRIPT);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`capture exited ${code}: ${err}`));
      try {
        resolve(parseCapture(out, nonce));
      } catch (e) {
        reject(e);
      }
    });
  });
}

const attempts = (c: CaptureFacts) => c.attempts.map((a) => [a.tier, a.ok, a.reason]);

function requireParanoid2(): void {
  const level = perfEventParanoid();
  expect(level, `kernel.perf_event_paranoid is ${level}: these tests expect the default 2, where perf needs root or CAP_PERFMON`).toBe(2);
}

describe('the capture step picks the best tier available and says why the better ones were not', () => {
  it('auto with perf: perf, nothing else tried', async () => {
    const c = await capture(dirs.both, 'auto');
    expect(c.tier).toBe('perf');
    expect(attempts(c)).toEqual([['perf', true, expect.stringMatching(/^recorded \d+ samples/)]]);
    expect(c.samples.length).toBeGreaterThan(0);
    expect(c.samples.every((s) => s.major === true)).toBe(true);
  });

  it('auto, perf missing: bpftrace (stand-in) is next', async () => {
    const c = await capture(dirs.bpftraceOnly, 'auto');
    expect(c.tier).toBe('bpftrace');
    expect(attempts(c)).toEqual([
      ['perf', false, 'perf is not installed'],
      ['bpftrace', true, 'recorded 200 samples'],
    ]);
    expect(c.samples.every((s) => s.pid === reader.pid && s.major === true)).toBe(true);
  });

  it('auto, perf and bpftrace missing: tracepoint needs perf too, so /proc evidence only', async () => {
    const c = await capture(dirs.none, 'auto');
    expect(c.tier).toBe('none');
    expect(attempts(c)).toEqual([
      ['perf', false, 'perf is not installed'],
      ['bpftrace', false, 'bpftrace is not installed'],
      ['tracepoint', false, 'perf is not installed'],
      ['none', true, 'no tracer: /proc evidence only'],
    ]);
    expect(c.samples).toEqual([]);
    // The process is still read for the /proc evidence: who it is and its swap.
    expect(c.procs[String(reader.pid)]).toMatchObject({ comm: reader.comm, vmSwapKb: 0 });
  });

  it('auto, perf refused by kernel.perf_event_paranoid (run as nobody), bpftrace missing: /proc evidence only', async () => {
    requireParanoid2();
    const c = await capture(dirs.perfOnly, 'auto', NOBODY);
    expect(c.tier).toBe('none');
    expect(attempts(c)).toEqual([
      ['perf', false, expect.stringMatching(/^perf refused \(kernel\.perf_event_paranoid is 2; needs root or CAP_PERFMON\)/)],
      ['bpftrace', false, 'bpftrace is not installed'],
      ['tracepoint', false, expect.stringMatching(/^perf failed \(exit \d+\): /)],
      ['none', true, 'no tracer: /proc evidence only'],
    ]);
    // Another user's maps and smaps are unreadable: nothing to resolve, and no smaps figures either.
    expect(c.procs[String(reader.pid)]).toMatchObject({ comm: reader.comm, maps: [] });
    expect(c.procs[String(reader.pid)]?.smapsSwapKb).toBeUndefined();
  });

  it('forced tracepoint with perf: the tracepoint tier, whose samples may be minor faults', async () => {
    const c = await capture(dirs.perfOnly, 'tracepoint');
    expect(c.tier).toBe('tracepoint');
    expect(attempts(c)).toEqual([['tracepoint', true, expect.stringMatching(/^recorded \d+ samples/)]]);
    expect(c.samples.every((s) => s.major === null)).toBe(true);
    expect(tracerUnavailable(c)).toBeNull();
  });

  it.each([
    ['perf', 'none', /^tracer perf is unavailable on the node: perf is not installed$/],
    ['bpftrace', 'perfOnly', /^tracer bpftrace is unavailable on the node: bpftrace is not installed$/],
    ['tracepoint', 'bpftraceOnly', /^tracer tracepoint is unavailable on the node: perf is not installed$/],
  ] as const)('forced %s missing (PATH %s): tracer_unavailable, saying so', async (tier, dir, message) => {
    const c = await capture(dirs[dir], tier);
    expect(c).toMatchObject({ tier: 'none', requested: tier, samples: [] });
    expect(attempts(c)).toEqual([[tier, false, expect.any(String)]]);
    const err = tracerUnavailable(c);
    expect(err?.code).toBe('tracer_unavailable');
    expect(err?.message).toMatch(message);
  });

  it('forced perf refused by paranoid (as nobody): tracer_unavailable with the kernel\'s reason', async () => {
    requireParanoid2();
    const c = await capture(dirs.perfOnly, 'perf', NOBODY);
    expect(tracerUnavailable(c)?.message).toMatch(/^tracer perf is unavailable on the node: perf refused \(kernel\.perf_event_paranoid is 2/);
  });
});

// Generous: a triage waits for other runs' generators to finish (up to 90 s) and is repeated when polluted.
describe('whole triages: the verdict and the report say which tier ran and why the better ones did not', { timeout: 480_000 }, () => {
  const run = (path: string, tracer: TierRequest = 'auto', as?: { uid: number; gid: number }) => {
    const { config, node } = localConfig({ tracer });
    const connector = restrictedLocalConnector({ env: env(path), ...(as ?? {}) });
    return triageNode(config, node, { kind: 'cli' }, { connector });
  };

  it('perf and bpftrace missing: /proc evidence only, a low-confidence mmap-read of the reader', async () => {
    const r = await triageUnpolluted(() => run(dirs.none), [reader.pid]);
    // pswpin is 0 and the reader's disk reads (read_bytes) cover its faults page for page: the /proc rule for
    // mmap reads. The file itself cannot be known without addresses.
    expect(r.verdict).toMatchObject({ kind: 'mmap-read', pid: reader.pid, path: null, confidence: 'low', tracer: 'none' });
    expect(r.analysis!.capture.unavailable).toEqual([
      { tier: 'perf', reason: 'perf is not installed' },
      { tier: 'bpftrace', reason: 'bpftrace is not installed' },
      { tier: 'tracepoint', reason: 'perf is not installed' },
    ]);
    const md = renderReport(r, { reportUrl: null });
    expect(md).toContain('| Tracer | /proc evidence only (no fault addresses) |');
    expect(md).toContain('tracer **none**:\nno tracer could record fault addresses, so the verdict rests on /proc alone');
    expect(md).toContain(
      [
        'Better tracers were not available:',
        '- perf major-faults (exact major-fault addresses): perf is not installed',
        '- bpftrace on handle_mm_fault (major faults from the fault return value and flags): bpftrace is not installed',
        '- perf exceptions:page_fault_user (all user page faults, minor ones included): perf is not installed',
      ].join('\n'),
    );
    expect(md).toContain('No fault addresses: no tracer could run (see Method).');
  });

  it('perf missing, bpftrace there: the bpftrace tier at medium confidence', async () => {
    const r = await triageUnpolluted(() => run(dirs.bpftraceOnly), [reader.pid]);
    expect(r.verdict).toMatchObject({ kind: 'mmap-read', pid: reader.pid, path: reader.path, confidence: 'medium', tracer: 'bpftrace' });
    const md = renderReport(r, { reportUrl: null });
    expect(md).toContain('tracer **bpftrace**:\nbpftrace on `handle_mm_fault` printed the pid and address');
    expect(md).toContain('Better tracers were not available:\n- perf major-faults (exact major-fault addresses): perf is not installed\n');
  });

  it('perf refused to the bot\'s user by kernel.perf_event_paranoid: the report gives the kernel\'s reason', async () => {
    requireParanoid2();
    const r = await triageUnpolluted(() => run(dirs.perfOnly, 'auto', NOBODY), [reader.pid]);
    expect(r.verdict.tracer).toBe('none');
    expect(r.verdict.confidence).toBe('low');
    const md = renderReport(r, { reportUrl: null });
    expect(md).toMatch(/- perf major-faults \(exact major-fault addresses\): perf refused \(kernel\.perf_event_paranoid is 2; needs root or CAP_PERFMON\)/);
    expect(md).toContain('- bpftrace on handle_mm_fault (major faults from the fault return value and flags): bpftrace is not installed');
  });

  it('a forced tier that is missing fails the triage with tracer_unavailable, and the report says so', async () => {
    const r = await run(dirs.perfOnly, 'bpftrace');
    expect(r.verdict).toMatchObject({ kind: 'failed', summary: 'triage of local failed: the tracer set in playbook.tracer is unavailable' });
    expect(r.verdict.failure).toEqual({
      code: 'tracer_unavailable',
      message: 'tracer bpftrace is unavailable on the node: bpftrace is not installed',
      retryable: false,
    });
    const md = renderReport(r, { reportUrl: null });
    expect(md).toContain('> **The triage could not run:** tracer bpftrace is unavailable on the node: bpftrace is not installed (code tracer_unavailable, retrying will not help until this is fixed)');
  });
});
