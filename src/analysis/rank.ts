import type { RankFacts } from '../model/facts.js';
import { ALERT_THRESHOLD_PER_SEC } from '../model/limits.js';
import type { ProcessRank, SystemMemory } from '../model/verdict.js';

/**
 * The iotop-equivalent ranking: who major-faulted (and read from disk) between the first and the last
 * /proc snapshot, and what the node as a whole did over the same window.
 *
 * Rates are over the whole window for every process, so they add up and compare with the node's
 * pgmajfault rate. A process that started during the window counted from zero (fork resets majflt and
 * read_bytes); one that exited is counted up to its last snapshot.
 */


export interface RankOptions {
  /** Keep the first `top` processes; all when absent. */
  top?: number;
}

type Presence = NonNullable<ProcessRank['presence']>;

/**
 * Splits a cumulative counter into per-interval increments. `values[i]` is the reading at `times[i]`,
 * undefined when not read. `bornAt` is the first snapshot a new process appeared in: it counts from 0
 * just before. Returns null when no increment can be measured (a single reading of an old process).
 */
export function counterDeltas(
  times: readonly number[],
  values: readonly (number | undefined)[],
  bornAt: number | null = null,
): number[] | null {
  const deltas = new Array<number>(Math.max(0, times.length - 1)).fill(0);
  let prev = bornAt !== null && bornAt > 0 ? bornAt - 1 : -1;
  let prevValue = 0;
  let measured = false;
  for (let i = 0; i < values.length && i < times.length; i++) {
    const v = values[i];
    if (v === undefined) continue;
    if (prev >= 0 && i > prev) {
      // A counter that went back means the pid was reused: the new process counts from 0.
      const d = v >= prevValue ? v - prevValue : v;
      spread(deltas, times, prev, i, d);
      measured = true;
    }
    prev = i;
    prevValue = v;
  }
  return measured ? deltas : null;
}

/** Spreads an increment seen between readings a and b over the intervals in between, by duration. */
function spread(deltas: number[], times: readonly number[], a: number, b: number, d: number): void {
  const total = times[b]! - times[a]!;
  for (let j = a; j < b; j++) {
    const share = total > 0 ? (times[j + 1]! - times[j]!) / total : 1 / (b - a);
    deltas[j] = deltas[j]! + d * share;
  }
}

function perSecond(deltas: readonly number[], times: readonly number[]): number[] {
  return deltas.map((d, j) => {
    const dt = times[j + 1]! - times[j]!;
    return dt > 0 ? d / dt : 0;
  });
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/** `options` may be the top count alone. */
export function rankProcesses(facts: RankFacts, options: RankOptions | number = {}): ProcessRank[] {
  const top = typeof options === 'number' ? options : options.top;
  const snaps = [...facts.snapshots].sort((a, b) => a.t - b.t);
  const times = snaps.map((s) => s.t);
  const n = snaps.length;
  const window = n > 1 ? times[n - 1]! - times[0]! : 0;

  const byPid = new Map<
    number,
    { comm: string; majflt: (number | undefined)[]; read: (number | undefined)[]; swap: (number | undefined)[] }
  >();
  snaps.forEach((snap, i) => {
    for (const p of snap.procs) {
      let e = byPid.get(p.pid);
      if (!e) {
        e = { comm: p.comm, majflt: new Array(n), read: new Array(n), swap: new Array(n) };
        byPid.set(p.pid, e);
      }
      e.comm = p.comm;
      e.majflt[i] = p.majflt;
      e.read[i] = snap.readBytes[String(p.pid)];
      // Read for every process: only non-zero VmSwap is printed, so one without a line had none. Read for some
      // (vmSwapListed): a process without an entry was not read.
      const swap = snap.vmSwapKb?.[String(p.pid)];
      if (swap !== undefined) e.swap[i] = swap;
      else if (snap.vmSwapKb && !snap.vmSwapListed) e.swap[i] = 0;
    }
  });

  const ranks: ProcessRank[] = [];
  for (const [pid, e] of byPid) {
    const first = e.majflt.findIndex((v) => v !== undefined);
    const last = e.majflt.findLastIndex((v) => v !== undefined);
    const started = first > 0;
    const exited = last < n - 1;
    const bornAt = started ? first : null;
    const faults = counterDeltas(times, e.majflt, bornAt);
    const reads = counterDeltas(times, e.read, bornAt);
    const majflt = faults ? sum(faults) : 0;
    const readBytes = reads ? sum(reads) : null;
    if (majflt <= 0 && !(readBytes !== null && readBytes > 0)) continue;
    const presence: Presence = started ? (exited ? 'brief' : 'started') : exited ? 'exited' : 'whole';
    const swapFirst = e.swap.find((v) => v !== undefined);
    const swapLast = e.swap.findLast((v) => v !== undefined);
    ranks.push({
      pid,
      comm: e.comm,
      majflt,
      majfltPerSec: window > 0 ? majflt / window : 0,
      readBytesPerSec: readBytes === null ? null : window > 0 ? readBytes / window : 0,
      swapKb: swapLast ?? null,
      // A process that started during the window had nothing in swap before.
      swapGrowthKb: swapLast === undefined ? null : swapLast - (started ? 0 : swapFirst!),
      series: perSecond(faults ?? new Array<number>(Math.max(0, n - 1)).fill(0), times),
      who: null,
      presence,
    });
  }
  ranks.sort(
    (a, b) =>
      b.majfltPerSec - a.majfltPerSec || (b.readBytesPerSec ?? -1) - (a.readBytesPerSec ?? -1) || a.pid - b.pid,
  );
  return top === undefined ? ranks : ranks.slice(0, Math.max(0, top));
}

export function systemMemory(facts: RankFacts, alertThresholdPerSec = ALERT_THRESHOLD_PER_SEC): SystemMemory {
  const vm = [...facts.vmstat].sort((a, b) => a.t - b.t);
  const times = vm.map((v) => v.t);
  const first = vm[0];
  const last = vm[vm.length - 1];
  const span = first && last ? last.t - first.t : 0;
  const rate = (key: 'pgmajfault' | 'pswpin' | 'pswpout'): number =>
    first && last && span > 0 ? Math.max(0, last[key] - first[key]) / span : 0;
  const series = perSecond(counterDeltas(times, vm.map((v) => v.pgmajfault)) ?? [], times);

  const snaps = facts.snapshots.map((s) => s.t);
  const windowSeconds = snaps.length > 1 ? Math.max(...snaps) - Math.min(...snaps) : span;

  const [psiStart, psiEnd] = facts.psi ?? [];
  // PSI totals are cumulative stall time in µs; the readings bracket the same window as vmstat.
  const stalled = (a: number | undefined, b: number | undefined): number | null =>
    a === undefined || b === undefined || span <= 0 ? null : Math.min(1, Math.max(0, (b - a) / (span * 1e6)));

  const { memTotalKb, memAvailableKb, swapTotalKb, swapFreeKb } = facts.memory;
  return {
    pgmajfaultPerSec: rate('pgmajfault'),
    pswpinPerSec: rate('pswpin'),
    pswpoutPerSec: rate('pswpout'),
    series,
    psiSomeAvg10: psiEnd?.some.avg10 ?? null,
    psiFullAvg10: psiEnd?.full?.avg10 ?? null,
    psiSomeWindow: stalled(psiStart?.some.total, psiEnd?.some.total),
    psiFullWindow: stalled(psiStart?.full?.total, psiEnd?.full?.total),
    memTotalKb,
    memAvailableKb,
    swapTotalKb,
    swapUsedKb: Math.max(0, swapTotalKb - swapFreeKb),
    alertThresholdPerSec,
    windowSeconds,
  };
}
