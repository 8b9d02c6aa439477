/**
 * The /proc-only tier's swap evidence: VmSwap per snapshot (growth over the window), smaps Swap per mapping
 * (shared memory included), and how the verdict uses them to name the swapping process and say what /proc
 * cannot tell.
 */
import { describe, expect, it } from 'vitest';
import { analyze } from '../../../src/analysis/analyze.js';
import { rankProcesses } from '../../../src/analysis/rank.js';
import { parseCapture, parseRank } from '../../../src/playbook/parse.js';
import { fixture, NONCE } from '../playbook/helpers.js';
import { ADDR, rankFacts, scenario, type ScenarioSpec } from './builders.js';

const MIB = 1024;

describe('VmSwap per snapshot', () => {
  it('gives each process its swap at the end of the window and how much it grew', () => {
    const facts = rankFacts({ procs: [{ pid: 1, majflt: [0, 10, 20, 30, 40, 50] }, { pid: 2, majflt: [undefined, undefined, 0, 5, 10, 15] }] });
    const swap = [100, 200, 300, 350, 400, 380];
    facts.snapshots.forEach((s, i) => {
      s.vmSwapKb = { '1': swap[i]!, ...(i >= 3 ? { '2': 64 * i } : {}) };
    });
    const [p1, p2] = rankProcesses(facts);
    expect(p1).toMatchObject({ pid: 1, swapKb: 380, swapGrowthKb: 280 });
    // Started during the window: it had nothing in swap before it existed.
    expect(p2).toMatchObject({ pid: 2, swapKb: 320, swapGrowthKb: 320, presence: 'started' });
  });

  it('a process without a VmSwap line had none; without VmSwap data at all, swap is unknown', () => {
    const facts = rankFacts({ procs: [{ pid: 1, majflt: [0, 10, 20, 30, 40, 50] }] });
    expect(rankProcesses(facts)[0]).toMatchObject({ swapKb: null, swapGrowthKb: null });
    facts.snapshots.forEach((s) => (s.vmSwapKb = {}));
    expect(rankProcesses(facts)[0]).toMatchObject({ swapKb: 0, swapGrowthKb: 0 });
  });
});

describe('real /proc-only triage of two swap thrashers (recorded rank and capture)', () => {
  const rank = parseRank(fixture('playbook-rank-swap.txt'), NONCE);
  const capture = parseCapture(fixture('playbook-capture-none-swap.txt'), NONCE);
  const { analysis, verdict } = analyze({ node: 'vm', rank, capture, topProcesses: 5 });

  it('ranks both, with VmSwap and its change', () => {
    expect(analysis.processes.map((p) => [p.pid, p.comm])).toEqual([
      [31948, 'pft-anonthrash'],
      [31950, 'pft-shmthrash'],
    ]);
    expect(analysis.processes[0]).toMatchObject({ swapKb: 98752, swapGrowthKb: -76 });
    expect(analysis.processes[1]).toMatchObject({ swapKb: 88, swapGrowthKb: 4 });
  });

  it('says where their swap is: the /dev/shm file as shared memory, the heap arena as anonymous', () => {
    expect(analysis.swapped).toEqual([
      { pid: 31950, comm: 'pft-shmthrash', path: '/dev/shm/pft-test-31928-a7997063', label: '/dev/shm/pft-test-31928-a7997063', kind: 'shmem', swapKb: 99252 },
      { pid: 31948, comm: 'pft-anonthrash', path: null, label: expect.stringMatching(/^anonymous 7ff7d1e00000–/), kind: 'anonymous', swapKb: 98696 },
    ]);
  });

  it('swap-thrash at low confidence from pswpin, naming the top faulter and its swap', () => {
    expect(verdict).toMatchObject({ kind: 'swap-thrash', pid: 31948, comm: 'pft-anonthrash', confidence: 'low', tracer: 'none' });
    expect(verdict.notes).toEqual([
      expect.stringMatching(/^pswpin [\d,]+ pages\/s \(readahead included, up to 8 per fault\): [\d,]+–[\d,]+ of the [\d,]+ major faults\/s are swap-ins$/),
      'pid 31950 (pft-shmthrash) 6,946 major faults/s, reads 28.6 MB/s from disk, 97 MiB in swap, up 4 kB: swap-ins',
      'pid 31948 has 96 MiB of anonymous memory in swap (VmSwap, down 76 kB over the window)',
      'without fault addresses, which of its mappings fault is unknown',
    ]);
  });
});

describe('/proc-only swap verdicts', () => {
  const none: ScenarioSpec = {
    tier: 'none',
    attempts: [
      { tier: 'perf', ok: false, reason: 'perf is not installed' },
      { tier: 'none', ok: true, reason: 'no tracer: /proc evidence only' },
    ],
    nodePerSec: 1000,
    pswpinPerSec: 900,
  };

  it('names the process that has memory in swap when swap-ins are the clear majority, noting a bigger faulter with none', () => {
    const { verdict } = analyze(
      scenario({
        ...none,
        faults: { 7: { file: 1 }, 8: { heap: 1 }, 9: { heap: 1 } },
        rates: { 7: 300, 8: 350, 9: 350 },
        comm: { 7: 'reader', 8: 'java', 9: 'java' },
        vmSwapKb: { 7: 0, 8: 700 * MIB, 9: 600 * MIB },
      }),
    );
    expect(verdict).toMatchObject({ kind: 'swap-thrash', pid: 8, comm: 'java', summary: 'swap thrash in pid 8 (java)', confidence: 'low' });
    expect(verdict.notes).toContain('pid 8 has 700 MiB of anonymous memory in swap (VmSwap)');
  });

  /*
   * The mix that misled the pswpin ratio: a mapped-file reader at 2,000 faults/s next to a thrasher whose 190
   * faults/s read 8 pages each (swap readahead at vm.page-cluster 3). pswpin is 1,520 pages/s, 70% of the
   * node's 2,190 major faults/s, yet only 9% of the faults are swap-ins.
   */
  const mix: ScenarioSpec = {
    ...none,
    nodePerSec: 2190,
    pswpinPerSec: 1520,
    faults: { 7: { file: 1 }, 8: { heap: 1 } },
    rates: { 7: 2000, 8: 190 },
    comm: { 7: 'reader', 8: 'thrasher' },
    vmSwapKb: { 7: 0, 8: 190 * MIB },
    readBytesPerSec: { 7: 2000 * 4096, 8: 1520 * 4096 },
  };

  it('a file reader next to a swap thrasher whose readahead inflates pswpin: mmap-read, naming the reader', () => {
    const { verdict } = analyze(scenario(mix));
    expect(verdict).toMatchObject({ kind: 'mmap-read', pid: 7, comm: 'reader', summary: 'mmap reads by pid 7 (reader)', confidence: 'low', tracer: 'none' });
    expect(verdict.notes).toContain('pswpin 1,520 pages/s (readahead included, up to 8 per fault): 190–1,520 of the 2,190 major faults/s are swap-ins');
    expect(verdict.notes).toContain('pid 7 (reader) 2,000 major faults/s, reads 8.2 MB/s from disk, nothing in swap: file reads');
    expect(verdict.notes).toContain('pid 8 (thrasher) 190 major faults/s, reads 6.2 MB/s from disk, 190 MiB in swap: swap-ins');
  });

  it('the same node with the thrasher the larger: swap-thrash, naming the thrasher', () => {
    const { verdict } = analyze(scenario({ ...mix, nodePerSec: 1700, pswpinPerSec: 1500, rates: { 7: 200, 8: 1500 }, readBytesPerSec: { 7: 200 * 4096, 8: 1500 * 4096 } }));
    expect(verdict).toMatchObject({ kind: 'swap-thrash', pid: 8, comm: 'thrasher', confidence: 'low' });
  });

  it('neither at 60%: mixed, naming both, the larger first', () => {
    const { verdict } = analyze(scenario({ ...mix, nodePerSec: 1000, pswpinPerSec: 900, rates: { 7: 450, 8: 550 }, readBytesPerSec: { 7: 450 * 4096, 8: 900 * 4096 } }));
    expect(verdict).toMatchObject({ kind: 'mixed', pid: 8, summary: 'swap thrash in pid 8 (thrasher) + mmap reads by pid 7 (reader)', confidence: 'low' });
    expect(verdict.notes).toContain('no cause reaches 60%: swap 55%, file reads 45%');
  });

  it('uses vm.page-cluster from the node for the readahead bound', () => {
    const s = scenario(mix);
    s.rank.node.pageCluster = 0;
    const { verdict } = analyze(s);
    // No readahead: every page read from swap was a fault of its own.
    expect(verdict.notes).toContain('pswpin 1,520 pages/s (readahead included, up to 1 per fault): 1,520–1,520 of the 2,190 major faults/s are swap-ins');
  });

  it('never counts more swap-in faults than pages read from swap', () => {
    // 2 MiB in swap, but pswpin 300 pages/s caps its swap-ins at 30% of its 1,000 faults/s.
    const { verdict } = analyze(scenario({ ...none, pswpinPerSec: 300, faults: { 4: { heap: 1 } }, rates: { 4: 1000 }, vmSwapKb: { 4: 2 * MIB } }));
    expect(verdict.kind).toBe('inconclusive');
  });

  it('with smaps: says when the swap is shared memory, which VmSwap does not count', () => {
    const { analysis, verdict } = analyze(
      scenario({
        ...none,
        faults: { 4: { shm: 1 } },
        rates: { 4: 1000 },
        vmSwapKb: { 4: 80 },
        overrides: { 4: { smapsSwapKb: { [ADDR.shm.toString(16)]: 60 * MIB, [ADDR.stack.toString(16)]: 80 } } },
      }),
    );
    // Rows under 1 MiB are noise and left out.
    expect(analysis.swapped).toEqual([{ pid: 4, comm: 'proc4', path: '/dev/shm/cache', label: '/dev/shm/cache', kind: 'shmem', swapKb: 60 * MIB }]);
    expect(verdict).toMatchObject({ kind: 'swap-thrash', pid: 4 });
    expect(verdict.notes).toContain('pid 4 has 80 kB of anonymous memory in swap (VmSwap)');
    expect(verdict.notes).toContain(
      '100% of what pid 4 has in swap is shared memory (/dev/shm/cache, 60 MiB), which is swap-backed: its faults are swap-ins, not file reads',
    );
  });

  it('without smaps (another user\'s process): says the swap-ins are likely shared memory, and how to know', () => {
    const { verdict } = analyze(scenario({ ...none, faults: { 4: { shm: 1 } }, rates: { 4: 1000 }, vmSwapKb: { 4: 80 } }));
    expect(verdict).toMatchObject({ kind: 'swap-thrash', pid: 4, confidence: 'low' });
    expect(verdict.notes).toContain(
      'pid 4 has almost no anonymous memory in swap: its swap-ins are likely shared memory (tmpfs, /dev/shm, SysV), which VmSwap does not count (/proc/PID/smaps, which would tell, could not be read)',
    );
  });

  it('with smaps showing nothing in swap: the swap-ins may be another process\'s', () => {
    const { verdict } = analyze(scenario({ ...none, faults: { 4: { heap: 1 } }, rates: { 4: 1000 }, vmSwapKb: { 4: 0 }, overrides: { 4: { smapsSwapKb: {} } } }));
    expect(verdict.notes).toContain('pid 4 has almost nothing in swap (VmSwap and smaps): the swap-ins may be another process\'s');
  });

  it('inconclusive still reports the top process\'s swap', () => {
    const { verdict } = analyze(scenario({ ...none, pswpinPerSec: 300, faults: { 4: { heap: 1 } }, rates: { 4: 1000 }, vmSwapKb: { 4: 2 * MIB } }));
    expect(verdict.kind).toBe('inconclusive');
    expect(verdict.notes).toContain('pid 4 has 2 MiB of anonymous memory in swap (VmSwap)');
  });
});
