/**
 * Triage depth on real major faults, over a real sshd on loopback: shared memory, program text, two causes
 * at once, no perf for the bot's user, and processes in systemd-style and container-style cgroups.
 *
 * The kernel is shared with other test runs: tests run one at a time, wait for each generator to be gone
 * (stop()), and a triage whose measurement shows another run's generator is run again
 * (triageUnpolluted), never accepted with weaker assertions.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAJORITY_SHARE } from '../../src/model/limits.js';
import type { TriageResult } from '../../src/model/triage.js';
import { triageNode } from '../../src/pipeline.js';
import { renderReport } from '../../src/report/markdown.js';
import { ensureUser, removeUser, requireCommands } from '../remote/helpers.js';
import {
  cleanupStaleTestState,
  measureMajfltRate,
  startAnonThrash,
  startCodeReread,
  startFileReader,
  startShmThrash,
  stopAllGenerators,
  waitForMajorFaults,
} from '../support/generators.js';
import { generateClientKey, startSshd, stopAllSshd, type Sshd } from '../support/sshd.js';
import { expectOwnNodeClean, perfEventParanoid, sshConfig, triageUnpolluted } from './helpers.js';

/** The bot's non-root login for the "no perf" case: no sudo, so perf runs as this user. */
const BOT_USER = 'pft-test-bot';

let sshd: Sshd;
let keysDir: string;
let botKey: string;

beforeAll(async () => {
  requireCommands('useradd', 'usermod', 'userdel');
  cleanupStaleTestState();
  ensureUser(BOT_USER);
  // sshd's own authorized_keys is readable by root only: the bot user gets its own, in a world-readable dir.
  keysDir = mkdtempSync(join(tmpdir(), 'pft-test-botkeys-'));
  chmodSync(keysDir, 0o755);
  const key = generateClientKey(keysDir);
  botKey = key.privateKeyPath;
  writeFileSync(join(keysDir, 'authorized_keys'), `${key.publicKey}\n`, { mode: 0o644 });
  sshd = await startSshd({ clientKey: key, extraConfig: [`Match User ${BOT_USER}`, `  AuthorizedKeysFile ${join(keysDir, 'authorized_keys')}`] });
}, 60_000);

let testStart = 0;
beforeEach(() => {
  testStart = Date.now();
});

afterEach(async () => {
  await stopAllGenerators();
  // Other test runs may run perf or the playbook on this machine meanwhile: judge only what we started.
  await expectOwnNodeClean({ roots: [process.pid, sshd.pid], since: testStart });
});

afterAll(async () => {
  await stopAllGenerators();
  await stopAllSshd();
  if (keysDir) rmSync(keysDir, { recursive: true, force: true });
  removeUser(BOT_USER);
});

const asRoot = () => sshConfig(sshd);
const asBot = () => sshConfig(sshd, { user: BOT_USER, privateKeyPath: botKey });

async function triage(setup: typeof asRoot, ours: number[]): Promise<TriageResult> {
  const { config, node } = setup();
  return triageUnpolluted(() => triageNode(config, node, { kind: 'cli' }), ours);
}

function log(label: string, r: TriageResult): void {
  const a = r.analysis;
  const procs = (a?.processes ?? []).map((p) => `${p.comm} ${p.pid} ${Math.round(p.majfltPerSec)}/s`).join(', ');
  const shares = a ? Object.entries(a.shares).map(([k, v]) => `${k} ${(v * 100).toFixed(1)}%`).join(' ') : '';
  console.log(
    `[depth] ${label}: ${r.verdict.kind} (${r.verdict.confidence}, ${r.verdict.tracer}) "${r.verdict.summary}"; node ${Math.round(a?.system.pgmajfaultPerSec ?? 0)}/s, ` +
      `pswpin ${Math.round(a?.system.pswpinPerSec ?? 0)}/s; ${procs}; shares ${shares}; samples ${a?.capture.samples} (${a?.capture.resolved} resolved)`,
  );
}

// Generous: a triage waits for other runs' generators to finish (up to 90 s) and is repeated when polluted.
describe('depth over ssh', { timeout: 480_000 }, () => {
  it('a /dev/shm file thrashed under a memory limit is swap-thrash, noted as shared memory, never mmap-read', async () => {
    const gen = await startShmThrash({ mb: 256, limitMb: 64 });
    await waitForMajorFaults(gen.pid, 200);
    const r = await triage(asRoot, [gen.pid]);
    log('shm', r);
    expect(r.verdict.kind, r.verdict.summary).toBe('swap-thrash');
    expect(r.verdict).toMatchObject({ pid: gen.pid, comm: gen.comm, path: null, confidence: 'high', tracer: 'perf' });
    expect(r.verdict.summary).toBe(`swap thrash in pid ${gen.pid} (${gen.comm})`);
    // The faults land in the /dev/shm file, which is shmem (a swap-in), not a file read.
    const a = r.analysis!;
    expect(a.mappings[0]).toMatchObject({ pid: gen.pid, path: gen.path, kind: 'shmem', cause: 'swap' });
    expect(a.shares.swap).toBeGreaterThan(0.9);
    expect(a.mappings.filter((m) => m.pid === gen.pid && m.cause !== 'swap' && m.share > 0.01)).toEqual([]);
    expect(a.files.find((f) => f.path === gen.path)).toMatchObject({ kind: 'shmem', cause: 'swap', pids: [gen.pid] });
    expect(r.verdict.notes).toContainEqual(expect.stringMatching(new RegExp(`of resolved faults are in shared memory \\(${gen.path}\\), which is swap-backed: counted as swap$`)));
    // smaps (readable as root) shows where its swap is: the shm file, which VmSwap does not count.
    expect(a.swapped?.[0]).toMatchObject({ pid: gen.pid, path: gen.path, kind: 'shmem' });
    expect(a.swapped![0]!.swapKb).toBeGreaterThan(a.processes.find((p) => p.pid === gen.pid)!.swapKb ?? 0);
    const md = renderReport(r, { reportUrl: null });
    expect(md).toContain('## Next steps\n- pid');
    expect(md).toContain('- The memory is shared memory');
    expect(md).not.toContain('mmap reads');
  });

  it('re-reads of an executable file mapping (PROT_EXEC) are code-reread, naming the file and the pid', async () => {
    const gen = await startCodeReread({ sizeMb: 64 });
    await waitForMajorFaults(gen.pid, 100);
    const r = await triage(asRoot, [gen.pid]);
    log('code', r);
    expect(r.verdict.kind, r.verdict.summary).toBe('code-reread');
    expect(r.verdict).toMatchObject({ pid: gen.pid, comm: gen.comm, path: gen.path, confidence: 'high', tracer: 'perf' });
    expect(r.verdict.summary).toBe(`program text of ${gen.path} re-read by pid ${gen.pid} (${gen.comm})`);
    expect(r.analysis!.mappings[0]).toMatchObject({ pid: gen.pid, kind: 'file-code', cause: 'code' });
    expect(r.analysis!.files[0]).toMatchObject({ path: gen.path, kind: 'file-code', pids: [gen.pid] });
  });

  describe('two processes at once: a mapped-file reader and a swap thrasher', () => {
    /*
     * The verdict table (README): a cause names the verdict when it has a clear majority of the resolved faults, which
     * verdict.ts sets at MAJORITY_SHARE = 60%; below that the verdict is `mixed`, naming the top two. Both
     * generators are paced (pagesPerSec) so the shares are known in advance and not near 60%:
     * - equal pace: the reader takes one major fault per page read (MADV_RANDOM), the thrasher slightly fewer
     *   (a few of its pages are still resident), so ~50/50 → `mixed`.
     * - 8:1 for the thrasher: swap ~85-90% → `swap-thrash`, naming the thrasher (the larger one).
     * The assertions check the measured shares first, then the verdict the rule gives for them.
     */
    async function pair(filePace: number, anonPace: number) {
      const reader = await startFileReader({ sizeMb: 64, pagesPerSec: filePace });
      const thrash = await startAnonThrash({ mb: 256, limitMb: 64, pagesPerSec: anonPace });
      await waitForMajorFaults(reader.pid, filePace * 0.7);
      await waitForMajorFaults(thrash.pid, anonPace * 0.6);
      const [readerRate, thrashRate] = await Promise.all([measureMajfltRate(reader.pid, 2000), measureMajfltRate(thrash.pid, 2000)]);
      console.log(`[depth] paced reader ${filePace}/s → ${readerRate.toFixed(0)}/s, thrasher ${anonPace}/s → ${thrashRate.toFixed(0)}/s`);
      const r = await triage(asRoot, [reader.pid, thrash.pid]);
      return { reader, thrash, r };
    }

    it('at equal pace neither cause reaches 60%: mixed, naming both', async () => {
      const { reader, thrash, r } = await pair(800, 800);
      log('mixed 800/800', r);
      const { swap, file } = r.analysis!.shares;
      expect(swap, 'swap share (paced to ~50%)').toBeGreaterThan(0.3);
      expect(file, 'file share (paced to ~50%)').toBeGreaterThan(0.3);
      expect(Math.max(swap, file)).toBeLessThan(MAJORITY_SHARE);
      expect(r.verdict.kind, r.verdict.summary).toBe('mixed');
      expect(r.verdict.confidence).toBe('high');
      expect(r.verdict.summary).toContain(`swap thrash in pid ${thrash.pid} (${thrash.comm})`);
      expect(r.verdict.summary).toContain(`mmap reads of ${reader.path} by pid ${reader.pid} (${reader.comm})`);
      expect(r.verdict.notes).toContainEqual(expect.stringMatching(/^no cause reaches 60%: (swap \d+%, file reads \d+%|file reads \d+%, swap \d+%)$/));
      expect(renderReport(r, { reportUrl: null })).toContain('- No single cause reaches 60% of the faults');
    });

    it('with the thrasher 8× faster, swap has the clear majority: swap-thrash, naming the thrasher', async () => {
      const { thrash, r } = await pair(150, 1200);
      log('larger 150/1200', r);
      expect(r.analysis!.shares.swap, 'swap share (paced to ~85%)').toBeGreaterThanOrEqual(MAJORITY_SHARE);
      expect(r.verdict.kind, r.verdict.summary).toBe('swap-thrash');
      expect(r.verdict).toMatchObject({ pid: thrash.pid, confidence: 'high' });
      // The reader is still in the evidence, just not the verdict.
      expect(r.analysis!.shares.file).toBeGreaterThan(0);
    });
  });

  describe('perf unavailable to the bot\'s user (no sudo, kernel.perf_event_paranoid 2): /proc evidence alone', () => {
    beforeAll(() => {
      const level = perfEventParanoid();
      if (level !== 2) throw new Error(`kernel.perf_event_paranoid is ${level}: this case needs the default 2, where perf needs root or CAP_PERFMON`);
    });

    function expectProcOnly(r: TriageResult, pid: number): void {
      expect(r.verdict.kind, r.verdict.summary).toBe('swap-thrash');
      expect(r.verdict).toMatchObject({ pid, confidence: 'low', tracer: 'none', path: null });
      expect(r.analysis!.capture.tier).toBe('none');
      expect(r.analysis!.capture.unavailable[0]).toMatchObject({ tier: 'perf', reason: expect.stringMatching(/^perf refused \(kernel\.perf_event_paranoid is 2; needs root or CAP_PERFMON\)/) });
      // pswpin is pages, readahead included: a bound on the swap-in faults (the node's ratio alone when no process's own evidence decides).
      expect(r.verdict.notes).toContainEqual(
        expect.stringMatching(/^pswpin [\d,]+ pages\/s \(readahead included, up to \d+ per fault\): [\d,]+–[\d,]+ of the [\d,]+ major faults\/s are swap-ins$|^pswpin [\d,]+\/s against [\d,]+ major faults\/s \(\d+%; pages, readahead included\)$/),
      );
      expect(r.verdict.notes).toContain('without fault addresses, which of its mappings fault is unknown');
      const md = renderReport(r, { reportUrl: null });
      expect(md).toContain('tracer **none**:\nno tracer could record fault addresses');
      expect(md).toMatch(/- perf major-faults \(exact major-fault addresses\): perf refused/);
    }

    it('anonymous memory: swap-thrash at low confidence, with its VmSwap', async () => {
      const gen = await startAnonThrash({ mb: 256, limitMb: 64 });
      await waitForMajorFaults(gen.pid, 200);
      const r = await triage(asBot, [gen.pid]);
      log('no perf, anon', r);
      expectProcOnly(r, gen.pid);
      const p = r.analysis!.processes.find((x) => x.pid === gen.pid)!;
      expect(p.swapKb, 'VmSwap of the thrasher').toBeGreaterThan(100 * 1024);
      expect(p.swapGrowthKb).toEqual(expect.any(Number));
      expect(p.who?.user).toBe('root');
      // Another user's /proc/PID/io is unreadable: disk reads are unknown, not zero.
      expect(p.readBytesPerSec).toBeNull();
      expect(r.verdict.notes).toContainEqual(expect.stringMatching(new RegExp(`^pid ${gen.pid} has \\d+ MiB of anonymous memory in swap \\(VmSwap`)));
    });

    it('shared memory: swap-thrash at low confidence, saying VmSwap cannot see shmem', async () => {
      const gen = await startShmThrash({ mb: 256, limitMb: 64 });
      await waitForMajorFaults(gen.pid, 200);
      const r = await triage(asBot, [gen.pid]);
      log('no perf, shm', r);
      expectProcOnly(r, gen.pid);
      expect(r.verdict.notes).toContainEqual(expect.stringMatching(/its swap-ins are likely shared memory \(tmpfs, \/dev\/shm, SysV\), which VmSwap does not count/));
    });
  });

  it('attributes processes to a systemd unit and to a Kubernetes container and pod', async () => {
    const unit = 'system.slice/pft-demo.service';
    const podUid = randomUUID();
    const containerId = randomBytes(32).toString('hex');
    const thrash = await startAnonThrash({ mb: 192, limitMb: 48, pagesPerSec: 600, cgroupName: unit });
    const reader = await startFileReader({ sizeMb: 32, pagesPerSec: 400, cgroupName: `kubepods/burstable/pod${podUid}/${containerId}` });
    await waitForMajorFaults(thrash.pid, 200);
    await waitForMajorFaults(reader.pid, 200);
    const r = await triage(asRoot, [thrash.pid, reader.pid]);
    log('cgroups', r);
    const byPid = new Map(r.analysis!.processes.map((p) => [p.pid, p]));
    expect(byPid.get(thrash.pid)?.who).toMatchObject({ unit: 'pft-demo.service', container: null, podUid: null, cgroup: `/${unit}`, user: 'root' });
    expect(byPid.get(reader.pid)?.who).toMatchObject({ unit: null, container: containerId, podUid, cgroup: `/kubepods/burstable/pod${podUid}/${containerId}` });
    expect(byPid.get(reader.pid)?.who?.cmdline).toContain(reader.path);
    const md = renderReport(r, { reportUrl: null });
    expect(md).toMatch(new RegExp(`\\| ${thrash.pid} \\| pft-anonthrash \\| pft-demo\\.service \\| root \\|`));
    expect(md).toMatch(new RegExp(`\\| ${reader.pid} \\| pft-filereader \\| container ${containerId.slice(0, 12)} · pod ${podUid} \\| root \\|`));
  });
});
