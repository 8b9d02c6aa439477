/**
 * The rank step's version 3 output (one `head -v` dump per snapshot), on a real run captured here
 * (test/fixtures/playbook-rank-v3.cmd): a paced file reader (pid 20482, ~300 major faults/s) for the whole
 * window, a second one (20483) killed about 2.5 s in, and two processes with hostile comms.
 */
import { describe, expect, it } from 'vitest';
import { rankProcesses } from '../../../src/analysis/rank.js';
import { parseRank } from '../../../src/playbook/parse.js';
import { parseSnapshotDump } from '../../../src/playbook/snapshot.js';
import { fixture, NONCE, parseError } from './helpers.js';

const M = `@@pft:${NONCE}`;
const TEXT = fixture('playbook-rank-v3.txt');
const READER = 20482;
const SHORT = 20483;

describe('parseRank, version 3 (real run)', () => {
  const facts = parseRank(TEXT, NONCE);
  const snaps = facts.snapshots;

  it('reads 5 snapshots one second apart, the whole table at the first, second and last', () => {
    expect(snaps).toHaveLength(5);
    for (let i = 1; i < snaps.length; i++) expect(snaps[i]!.t - snaps[i - 1]!.t).toBeCloseTo(1, 1);
    for (const i of [0, 1, 4]) expect(snaps[i]!.procs.length).toBeGreaterThan(50);
    expect(snaps[0]!.procs.find((p) => p.pid === 1)).toMatchObject({ comm: 'process_api', ppid: 0 });
  });

  it('between the second and the last, reads only the processes that faulted in the first second', () => {
    expect(snaps[2]!.procs.map((p) => p.pid).sort()).toEqual([READER, SHORT]);
    // The short reader was killed before the fourth snapshot: only the other one is left.
    expect(snaps[3]!.procs.map((p) => p.pid)).toEqual([READER]);
  });

  it('reads read_bytes of every process at the first and last snapshot, of the faulting ones in between', () => {
    expect(Object.keys(snaps[0]!.readBytes).length).toBeGreaterThan(50);
    expect(Object.keys(snaps[4]!.readBytes).length).toBeGreaterThan(50);
    expect(Object.keys(snaps[1]!.readBytes).sort()).toEqual([String(READER), String(SHORT)]);
    expect(snaps[4]!.readBytes[String(READER)]).toBeGreaterThan(snaps[0]!.readBytes[String(READER)]!);
  });

  it('reads VmSwap of the faulting processes at the second and the last snapshot, zeros listed', () => {
    expect(snaps.map((s) => s.vmSwapListed ?? false)).toEqual([false, true, false, false, true]);
    expect(snaps[1]!.vmSwapKb).toEqual({ [READER]: 0, [SHORT]: 0 });
    expect(snaps[4]!.vmSwapKb).toEqual({ [READER]: 0 });
    expect(snaps[0]!.vmSwapKb).toBeUndefined();
  });

  it('keeps hostile comms exactly', () => {
    const comms = snaps[0]!.procs.map((p) => p.comm);
    expect(comms).toContain('a) b\nc');
    expect(comms).toContain('(@@pft:\n==> ))');
  });

  it('reads vmstat at every snapshot, PSI at start and end, meminfo and the node', () => {
    expect(facts.vmstat.map((v) => v.t)).toEqual(snaps.map((s) => s.t));
    expect(facts.vmstat[4]!.pgmajfault - facts.vmstat[0]!.pgmajfault).toBeGreaterThan(1000);
    expect(facts.psi).toHaveLength(2);
    expect(facts.memory.memTotalKb).toBeGreaterThan(0);
    expect(facts.node).toMatchObject({ uid: 0, pageSize: 4096, nproc: 2, tools: { perf: '/usr/bin/perf' } });
    expect(facts.node.tmpfsMounts).toContain('/dev/shm');
  });

  it('ranks both readers with a per-second series, the killed one as exited', () => {
    const ranks = rankProcesses(facts);
    const reader = ranks.find((r) => r.pid === READER)!;
    const short = ranks.find((r) => r.pid === SHORT)!;
    expect(ranks[0]!.pid).toBe(READER);
    expect(reader.presence).toBe('whole');
    expect(reader.series).toHaveLength(4);
    for (const r of reader.series) expect(r).toBeGreaterThan(250);
    expect(reader.swapKb).toBe(0);
    expect(reader.swapGrowthKb).toBe(0);
    expect(reader.readBytesPerSec).toBeGreaterThan(0);
    expect(short.presence).toBe('exited');
    expect(short.series[0]).toBeGreaterThan(250);
    expect(short.series[3]).toBe(0);
    // VmSwap was not read for the processes that did not fault in the first second: unknown, not zero.
    for (const r of ranks.filter((x) => x.pid !== READER && x.pid !== SHORT)) expect(r.swapKb).toBeNull();
  });

  it('fails on output cut anywhere, and on a missing snapshot', () => {
    for (const frac of [0.1, 0.5, 0.99]) expect(parseError(() => parseRank(TEXT.slice(0, Math.floor(TEXT.length * frac)), NONCE)).code).toBe('parse_failed');
    const noSnap = TEXT.replace(new RegExp(`${M} snap i=3[\\s\\S]*?(?=${M} snap i=4)`), '');
    expect(parseError(() => parseRank(noSnap, NONCE)).message).toMatch(/out of order/);
  });

  it('fails on a snapshot without vmstat, an io file without read_bytes, or a malformed VmSwap', () => {
    const noVm = TEXT.replace(new RegExp(`(${M} snap i=2 [^\n]*\n)==> /proc/vmstat <==\n[\\s\\S]*?(?===> /proc/)`), '$1');
    expect(parseError(() => parseRank(noVm, NONCE)).message).toMatch(/snapshot i=2.*no \/proc\/vmstat/);
    const io = TEXT.replace(/(==> \/proc\/20482\/io <==\n[\s\S]*?)read_bytes: /, '$1read_bites: ');
    expect(parseError(() => parseRank(io, NONCE)).message).toMatch(/20482\/io: no read_bytes/);
    const sw = TEXT.replace(/(==> \/proc\/20482\/status <==\n[\s\S]*?VmSwap:\s+)0 kB/, '$1lots kB');
    expect(parseError(() => parseRank(sw, NONCE)).message).toMatch(/20482\/status VmSwap/);
  });
});

describe('parseSnapshotDump', () => {
  it('reads dumps back to back, skips emptied files, and counts a status without VmSwap as none', () => {
    const dump = [
      '==> /proc/vmstat <==', 'pgmajfault 7', 'pswpin 2', '',
      '==> /proc/42/stat <==', '42 (x y) S 1 42 42 0 -1 0 5 0 9 0', '',
      '==> /proc/43/stat <==', '',
      // a second head: its first header follows the last line of the first dump directly
      '==> /proc/42/io <==', 'rchar: 1', 'read_bytes: 4096', 'write_bytes: 0', '',
      '==> /proc/42/status <==', 'Name:\tx y', 'VmSwap:\t     128 kB', '',
      '==> /proc/2/status <==', 'Name:\tkthreadd', 'Uid:\t0\t0\t0\t0',
    ].join('\n');
    expect(parseSnapshotDump(dump, 5)).toEqual({
      procs: [{ pid: 42, comm: 'x y', state: 'S', ppid: 1, minflt: 5, majflt: 9 }],
      readBytes: { '42': 4096 },
      vmSwapKb: { '42': 128, '2': 0 },
      vmstat: { t: 5, pgmajfault: 7, pswpin: 2, pswpout: 0 },
    });
  });

  it('rejects a stat file holding another pid, and vmstat twice', () => {
    const vm = '==> /proc/vmstat <==\npgmajfault 1\n';
    expect(parseError(() => parseSnapshotDump(`${vm}\n==> /proc/5/stat <==\n6 (a) S 1 0 0 0 -1 0 0 0 0 0\n`, 1)).message).toMatch(/pid 6/);
    expect(parseError(() => parseSnapshotDump(`${vm}\n${vm}`, 1)).message).toMatch(/vmstat twice/);
  });
});
