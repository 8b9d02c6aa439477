import { describe, expect, it } from 'vitest';
import { counterDeltas, rankProcesses, systemMemory } from '../../../src/analysis/rank.js';
import { ALERT_THRESHOLD_PER_SEC as DEFAULT_ALERT_THRESHOLD_PER_SEC } from '../../../src/model/limits.js';
import { rankFacts, steady } from './builders.js';

// Default window: six snapshots, t = 100..105, so five one-second intervals.

describe('rankProcesses', () => {
  it('ranks by majflt/s over the window, with a per-second series', () => {
    const ranks = rankProcesses(
      rankFacts({
        procs: [
          { pid: 10, comm: 'postgres', majflt: [100, 110, 120, 130, 140, 150] },
          { pid: 20, comm: 'java', majflt: [0, 1000, 2000, 3500, 5000, 6000] },
          { pid: 30, comm: 'idle', majflt: [5, 5, 5, 5, 5, 5] },
        ],
      }),
    );
    expect(ranks.map((r) => r.pid)).toEqual([20, 10]);
    expect(ranks[0]).toMatchObject({ comm: 'java', majflt: 6000, majfltPerSec: 1200, series: [1000, 1000, 1500, 1500, 1000], presence: 'whole' });
    expect(ranks[1]).toMatchObject({ majflt: 50, majfltPerSec: 10, series: [10, 10, 10, 10, 10] });
  });

  it('reports read_bytes/s from the io deltas, null when never readable', () => {
    const [a, b] = rankProcesses(
      rankFacts({
        procs: [
          { pid: 1, majflt: [0, 10, 20, 30, 40, 50], readBytes: [0, 1e6, 2e6, 3e6, 4e6, 5e6] },
          { pid: 2, majflt: [0, 5, 10, 15, 20, 25] },
        ],
      }),
    );
    expect(a).toMatchObject({ pid: 1, readBytesPerSec: 1e6 });
    expect(b).toMatchObject({ pid: 2, readBytesPerSec: null });
  });

  it('breaks majflt ties by disk reads, then by pid', () => {
    const ranks = rankProcesses(
      rankFacts({
        procs: [
          { pid: 3, majflt: [0, 0, 0, 0, 0, 50] },
          { pid: 2, majflt: [0, 0, 0, 0, 0, 50], readBytes: [0, 0, 0, 0, 0, 10] },
          { pid: 1, majflt: [0, 0, 0, 0, 0, 50] },
          { pid: 4, majflt: [0, 0, 0, 0, 0, 0], readBytes: [0, 0, 0, 0, 0, 1e9] },
        ],
      }),
    );
    expect(ranks.map((r) => r.pid)).toEqual([2, 1, 3, 4]);
  });

  it('counts a process that started during the window from zero', () => {
    const [r] = rankProcesses(rankFacts({ procs: [{ pid: 7, majflt: [undefined, undefined, 40, 90, 140, 190] }] }));
    expect(r).toMatchObject({ majflt: 190, majfltPerSec: 38, presence: 'started', series: [0, 40, 50, 50, 50] });
  });

  it('counts a process that exited during the window up to its last snapshot', () => {
    const [r] = rankProcesses(rankFacts({ procs: [{ pid: 8, majflt: [0, 100, 200, undefined, undefined, undefined] }] }));
    expect(r).toMatchObject({ majflt: 200, majfltPerSec: 40, presence: 'exited', series: [100, 100, 0, 0, 0] });
  });

  it("marks one that came and went 'brief'", () => {
    const [r] = rankProcesses(rankFacts({ procs: [{ pid: 9, majflt: [undefined, 10, 30, undefined, undefined, undefined] }] }));
    expect(r).toMatchObject({ majflt: 30, presence: 'brief', series: [10, 20, 0, 0, 0] });
  });

  it('spreads the increment over a snapshot that missed the process', () => {
    const [r] = rankProcesses(rankFacts({ procs: [{ pid: 5, majflt: [0, 10, undefined, 50, 60, 70] }] }));
    expect(r).toMatchObject({ majflt: 70, series: [10, 20, 20, 10, 10], presence: 'whole' });
  });

  it('treats a counter that went back as a reused pid counting from zero', () => {
    const [r] = rankProcesses(rankFacts({ procs: [{ pid: 6, majflt: [1000, 1010, 1020, 5, 15, 25] }] }));
    expect(r).toMatchObject({ majflt: 45, series: [10, 10, 5, 10, 10] });
  });

  it('cannot measure a process seen only once in the first snapshot', () => {
    expect(rankProcesses(rankFacts({ procs: [{ pid: 4, majflt: [500, undefined, undefined, undefined, undefined, undefined] }] }))).toEqual([]);
  });

  it('keeps the top N, given as an option or as a number', () => {
    const facts = rankFacts({ procs: [1, 2, 3, 4].map((pid) => ({ pid, majflt: [0, 0, 0, 0, 0, pid * 10] })) });
    expect(rankProcesses(facts, { top: 2 }).map((r) => r.pid)).toEqual([4, 3]);
    expect(rankProcesses(facts, 3).map((r) => r.pid)).toEqual([4, 3, 2]);
    expect(rankProcesses(facts)).toHaveLength(4);
  });

  it('uses real snapshot times, whatever order they arrive in', () => {
    const facts = rankFacts({ times: [10, 12, 10.5], procs: [{ pid: 1, majflt: [0, 300, 50] }] });
    const [r] = rankProcesses(facts);
    expect(r?.majfltPerSec).toBeCloseTo(150);
    expect(r?.series).toEqual([100, 250 / 1.5]);
  });
});

describe('counterDeltas', () => {
  it('returns null when no increment can be measured', () => {
    expect(counterDeltas([0, 1, 2], [undefined, 5, undefined])).toBeNull();
    expect(counterDeltas([0, 1, 2], [undefined, 5, undefined], 1)).toEqual([5, 0]);
  });

  it('splits an increment by interval length across a gap', () => {
    expect(counterDeltas([0, 1, 3], [0, undefined, 30])).toEqual([10, 20]);
  });
});

describe('systemMemory', () => {
  const psi = (someTotal: number, fullTotal: number, someAvg10 = 0, fullAvg10 = 0) => ({
    some: { avg10: someAvg10, avg60: 0, avg300: 0, total: someTotal },
    full: { avg10: fullAvg10, avg60: 0, avg300: 0, total: fullTotal },
  });

  it('computes node rates, the per-second series, PSI and swap use', () => {
    const sys = systemMemory(
      rankFacts({
        pgmajfault: [1000, 2000, 3000, 4500, 6000, 7000],
        pswpin: steady(900),
        pswpout: steady(100),
        psi: [psi(1_000_000, 500_000), psi(3_500_000, 2_000_000, 44, 31)],
        memory: { swapTotalKb: 2_000_000, swapFreeKb: 600_000 },
      }),
    );
    expect(sys).toMatchObject({
      pgmajfaultPerSec: 1200,
      pswpinPerSec: 900,
      pswpoutPerSec: 100,
      series: [1000, 1000, 1500, 1500, 1000],
      psiSomeAvg10: 44,
      psiFullAvg10: 31,
      psiSomeWindow: 0.5,
      psiFullWindow: 0.3,
      swapTotalKb: 2_000_000,
      swapUsedKb: 1_400_000,
      alertThresholdPerSec: DEFAULT_ALERT_THRESHOLD_PER_SEC,
      windowSeconds: 5,
    });
    expect(DEFAULT_ALERT_THRESHOLD_PER_SEC).toBe(500);
  });

  it('takes a custom alert threshold, and nulls without PSI or without its full line', () => {
    const none = systemMemory(rankFacts(), 200);
    expect(none).toMatchObject({ alertThresholdPerSec: 200, psiSomeAvg10: null, psiFullAvg10: null, psiSomeWindow: null, psiFullWindow: null });
    const someOnly = systemMemory(rankFacts({ psi: [{ some: psi(0, 0).some, full: null }, { some: psi(1e6, 0, 12).some, full: null }] }));
    expect(someOnly).toMatchObject({ psiSomeAvg10: 12, psiFullAvg10: null, psiSomeWindow: 0.2, psiFullWindow: null });
  });

  it('clamps the stalled share to [0, 1]', () => {
    expect(systemMemory(rankFacts({ psi: [psi(0, 0), psi(9e9, 0)] })).psiSomeWindow).toBe(1);
  });
});
