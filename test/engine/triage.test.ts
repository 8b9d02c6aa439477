/**
 * The engine end to end on real major faults: the project's C generators, a swap file under a
 * cgroup memory limit, real perf, run locally and over a real sshd. Tests run one at a time and
 * wait for each generator to be gone, since they all share this kernel.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config, NodeConfig } from '../../src/config/schema.js';
import type { TriageResult } from '../../src/model/triage.js';
import { triageNode } from '../../src/pipeline.js';
import {
  assertNoStrayGenerators,
  cleanupStaleTestState,
  startAnonThrash,
  startFileReader,
  stopAllGenerators,
  waitForMajorFaults,
} from '../support/generators.js';
import { startSshd, stopAllSshd, type Sshd } from '../support/sshd.js';
import { expectNodeClean, localConfig, sshConfig } from './helpers.js';

let sshd: Sshd;

beforeAll(async () => {
  cleanupStaleTestState();
  sshd = await startSshd();
});

afterEach(async () => {
  await stopAllGenerators();
  await expectNodeClean();
});

afterAll(async () => {
  await stopAllGenerators();
  await stopAllSshd();
});

/** Overhead beyond the configured windows, for the closing figures. */
function overheadMs(r: TriageResult): number {
  // Sequential: both windows one after the other; overlapped (no capture step of its own): the longer of the two.
  const { sampleSeconds, captureSeconds } = r.window;
  const windows = r.timings.some((t) => t.step === 'capture') ? sampleSeconds + captureSeconds : Math.max(sampleSeconds, captureSeconds);
  return Date.parse(r.finishedAt) - Date.parse(r.startedAt) - windows * 1000;
}

function report(label: string, r: TriageResult): void {
  const c = r.analysis?.capture;
  console.log(
    `[engine] ${label}: ${r.verdict.kind} "${r.verdict.summary}" overhead ${overheadMs(r)} ms;` +
      (c ? ` captured ${c.samples} (${c.resolved} resolved, ${c.lost} lost) vs pgmajfault delta ${c.majfltDelta}` : ''),
  );
}

const modes: { name: string; setup: () => { config: Config; node: NodeConfig } }[] = [
  { name: 'local', setup: () => localConfig() },
  { name: 'ssh', setup: () => sshConfig(sshd) },
];

describe.each(modes)('triage on $name', ({ name, setup }) => {
  it('playbook.mode overlapped: names the reader and the file for mapped-file reads (mmap-read) after one window', async () => {
    assertNoStrayGenerators();
    const gen = await startFileReader({ sizeMb: 64 });
    await waitForMajorFaults(gen.pid, 200);
    const { config, node } = setup();
    const r = await triageNode({ ...config, playbook: { ...config.playbook, mode: 'overlapped' } }, node, { kind: 'cli' });
    report(`${name} mmap-read`, r);
    expect(r.verdict.kind, r.verdict.summary).toBe('mmap-read');
    expect(r.verdict.pid).toBe(gen.pid);
    expect(r.verdict.comm).toBe(gen.comm);
    expect(r.verdict.path).toBe(gen.path);
    expect(r.verdict.confidence).toBe('high');
    expect(r.verdict.tracer).toBe('perf');
    expect(r.verdict.summary).toBe(`mmap reads of ${gen.path} by pid ${gen.pid} (${gen.comm})`);
    expect(r.analysis!.processes[0]!.pid).toBe(gen.pid);
    // Overlapped: the capture ran inside the rank step, system-wide.
    expect(r.timings.map((t) => t.step)).toEqual(['connect', 'rank', 'resolve']);
    expect(r.analysis!.capture.target).toBe('all');
  });

  it('playbook.mode sequential (the default): rank, then trace the top processes', async () => {
    assertNoStrayGenerators();
    const gen = await startFileReader({ sizeMb: 64 });
    await waitForMajorFaults(gen.pid, 200);
    const { config, node } = setup();
    const r = await triageNode(config, node, { kind: 'cli' });
    report(`${name} sequential mmap-read`, r);
    expect(r.verdict).toMatchObject({ kind: 'mmap-read', pid: gen.pid, path: gen.path, confidence: 'high', tracer: 'perf' });
    expect(r.timings.map((t) => t.step)).toEqual(['connect', 'rank', 'capture', 'resolve']);
    expect(r.analysis!.capture.target).toBe('pids');
  });

  it('names the thrashing process for anonymous memory under a limit (swap-thrash)', async () => {
    assertNoStrayGenerators();
    const gen = await startAnonThrash({ mb: 256, limitMb: 64 });
    await waitForMajorFaults(gen.pid, 200);
    const { config, node } = setup();
    const r = await triageNode(config, node, { kind: 'cli' });
    report(`${name} swap-thrash`, r);
    expect(r.verdict.kind, r.verdict.summary).toBe('swap-thrash');
    expect(r.verdict.pid).toBe(gen.pid);
    expect(r.verdict.summary).toBe(`swap thrash in pid ${gen.pid} (${gen.comm})`);
    expect(r.analysis!.system.pswpinPerSec).toBeGreaterThan(0);
    expect(r.analysis!.shares.swap).toBeGreaterThan(0.9);
  });

  it('says quiet when nothing faults', async () => {
    assertNoStrayGenerators();
    const { config, node } = setup();
    const r = await triageNode(config, node, { kind: 'cli' });
    report(`${name} quiet`, r);
    expect(r.verdict.kind, r.verdict.summary).toBe('quiet');
    expect(r.verdict.summary).toBe(`no major faults on ${node.name} during the 4 s window`);
  });
});

describe('triage failures over ssh', () => {
  it('refuses a wrong host key before any command runs', async () => {
    const wrong = 'SHA256:' + 'A'.repeat(43);
    const { config, node } = sshConfig(sshd, { hostKey: wrong });
    const before = sshd.logs().length;
    const r = await triageNode(config, node, { kind: 'cli' });
    expect(r.verdict.kind).toBe('failed');
    expect(r.verdict.failure?.code).toBe('host_key_mismatch');
    expect(r.verdict.failure?.message).toContain(wrong);
    expect(r.verdict.failure?.message).toContain(sshd.hostKeyFingerprint);
    expect(r.verdict.summary).toMatch(/host key/);
    expect(r.timings.map((t) => t.step)).toEqual(['connect']);
    await new Promise((res) => setTimeout(res, 500));
    // No authentication happened, so no command could have run.
    expect(sshd.logs().slice(before)).not.toMatch(/Accepted publickey/);
  });

  it('fails fast and within the connect timeout for an unreachable node', async () => {
    const { config, node } = sshConfig({ ...sshd, port: 1 }, { connectTimeoutSeconds: 2 });
    const t0 = Date.now();
    const r = await triageNode(config, node, { kind: 'cli' });
    expect(Date.now() - t0).toBeLessThan(2000 + 1000);
    expect(r.verdict.kind).toBe('failed');
    expect(r.verdict.failure?.code).toBe('unreachable');
  });

  it('fails within the connect timeout when the node accepts TCP but never answers SSH', async () => {
    const net = await import('node:net');
    const silent = net.createServer(() => {});
    await new Promise<void>((res) => silent.listen(0, '127.0.0.1', () => res()));
    const port = (silent.address() as { port: number }).port;
    try {
      const { config, node } = sshConfig({ ...sshd, port }, { connectTimeoutSeconds: 2 });
      const t0 = Date.now();
      const r = await triageNode(config, node, { kind: 'cli' });
      expect(Date.now() - t0).toBeLessThan(2000 + 1500);
      expect(r.verdict.kind).toBe('failed');
      expect(r.verdict.failure?.code).toBe('connect_timeout');
    } finally {
      silent.close();
    }
  });
});
