import type { CaptureFacts, ProcDetail, RankFacts } from '../model/facts.js';
import type { Analysis, CaptureSummary, ProcessRank, Reconciliation, SwappedMapping, Verdict } from '../model/verdict.js';
import { hotRegions } from './hot-regions.js';
import { classifyMapping } from './mapping-kind.js';
import { ALERT_THRESHOLD_PER_SEC, SWAP_MEANINGFUL_KB } from '../model/limits.js';
import { rankProcesses, systemMemory } from './rank.js';
import { resolveSamples, type Resolution } from './resolve.js';
import { decideVerdict } from './verdict.js';
import { whoOf } from './who.js';

/**
 * The analysis stage: facts from the playbook in, the analysis and its verdict out. Pure: rank the
 * processes, resolve the captured addresses, classify, decide.
 */

export interface AnalyzeInput {
  node: string;
  rank: RankFacts;
  capture: CaptureFacts;
  /** How many processes the ranking keeps (playbook.topProcesses). */
  topProcesses: number;
  alertThresholdPerSec?: number;
  /** The configured windows (playbook.sampleSeconds, captureSeconds), used to name the window in a quiet summary. */
  sampleSeconds?: number;
  captureSeconds?: number;
  /** The capture ran during the sample window (playbook.mode overlapped): the window is the longer of the two. */
  overlapped?: boolean;
}

export function analyze(input: AnalyzeInput): { analysis: Analysis; verdict: Verdict } {
  const { rank, capture } = input;
  const system = systemMemory(rank, input.alertThresholdPerSec ?? ALERT_THRESHOLD_PER_SEC);
  const processes = rankProcesses(rank, { top: input.topProcesses }).map((p) => withDetail(p, capture.procs[String(p.pid)]));

  const lastComm = new Map<number, string>();
  for (const snap of [...rank.snapshots].sort((a, b) => a.t - b.t)) for (const p of snap.procs) lastComm.set(p.pid, p.comm);
  const resolution = resolveSamples(capture.samples, capture.procs, {
    tmpfsMounts: rank.node.tmpfsMounts,
    commOf: (pid) => lastComm.get(pid),
  });

  const share = (n: number): number => (resolution.resolved > 0 ? n / resolution.resolved : 0);
  const { swap, file, code, other } = resolution.byCause;
  const swapped = swappedMappings(processes, capture.procs, rank.node.tmpfsMounts);
  const analysis: Analysis = {
    processes,
    mappings: resolution.mappings,
    files: resolution.files,
    shares: { swap: share(swap), file: share(file), code: share(code), other: share(other) },
    system,
    capture: captureSummary(capture, resolution),
    ...(swapped ? { swapped } : {}),
  };
  // Where in the file: for the file that a file verdict would name (the top file-backed file).
  const topFile = resolution.files.find((f) => f.kind === 'file-data' || f.kind === 'file-code');
  const offsets = topFile ? resolution.fileOffsets(topFile.kind, topFile.path) : undefined;
  const hot = topFile && offsets ? hotRegions(topFile.path, offsets.offsets, offsets.extentBytes, rank.node.pageSize) : null;
  if (hot) analysis.hotRegions = hot;
  const reconciliation = reconcile(processes, capture);
  if (reconciliation) analysis.reconciliation = reconciliation;
  const windowSeconds =
    input.sampleSeconds === undefined || input.captureSeconds === undefined
      ? undefined
      : input.overlapped
        ? Math.max(input.sampleSeconds, input.captureSeconds)
        : input.sampleSeconds + input.captureSeconds;
  return {
    analysis,
    verdict: decideVerdict({
      node: input.node,
      analysis,
      pageSize: rank.node.pageSize,
      ...(rank.node.pageCluster === undefined ? {} : { pageCluster: rank.node.pageCluster }),
      ...(windowSeconds === undefined ? {} : { windowSeconds }) }),
  };
}

/**
 * Attaches who the process is and its swap use. The detail was read during the capture, after the
 * ranking: a different comm means the pid now belongs to another process, whose identity would mislead.
 */
function withDetail(p: ProcessRank, detail: ProcDetail | undefined): ProcessRank {
  if (!detail || detail.comm !== p.comm) return p;
  return { ...p, swapKb: detail.vmSwapKb ?? p.swapKb, who: whoOf(detail) };
}

/**
 * A process whose samples cover less than this share of what the tracer caught of the other processes' faults is
 * under-counted: relative, so that samples lost or cut alike for everyone do not flag anyone.
 */
export const UNDERCOUNT_COVERAGE = 0.5;

/**
 * Fewer major faults than this over the capture (the process's, or the others'), or fewer samples expected from
 * them, cannot tell an under-count from jitter.
 */
export const UNDERCOUNT_MIN_FAULTS = 100;

/**
 * Each ranked process's majflt over the capture window against the samples attributed to it, each sample counted
 * as the capture's period (1 in P faults recorded). Only for tracers that record major faults alone (perf
 * major-faults, bpftrace).
 */
function reconcile(processes: readonly ProcessRank[], capture: CaptureFacts): Reconciliation[] | null {
  if ((capture.tier !== 'perf' && capture.tier !== 'bpftrace') || capture.seconds <= 0) return null;
  const period = capture.period ?? 1;
  const perPid = new Map<number, number>();
  for (const s of capture.samples) if (s.major !== false) perPid.set(s.pid, (perPid.get(s.pid) ?? 0) + 1);
  const rows = processes
    .filter((p) => p.majflt > 0 && !(capture.pidsGone ?? []).includes(p.pid))
    .map((p) => ({ pid: p.pid, comm: p.comm, majflt: p.majfltPerSec * capture.seconds, samples: perPid.get(p.pid) ?? 0 }));
  const totalMajflt = rows.reduce((n, r) => n + r.majflt, 0);
  const totalSamples = rows.reduce((n, r) => n + r.samples, 0);
  // Enough faults to judge, and, sampled, enough samples expected from them.
  const enough = (majflt: number): boolean => majflt >= UNDERCOUNT_MIN_FAULTS && majflt / period >= UNDERCOUNT_MIN_FAULTS;
  return rows.map((r) => {
    const coverage = r.majflt > 0 ? Math.min(1, (r.samples * period) / r.majflt) : 1;
    const othersMajflt = totalMajflt - r.majflt;
    const othersCoverage = othersMajflt > 0 ? Math.min(1, ((totalSamples - r.samples) * period) / othersMajflt) : null;
    const undercounted = othersCoverage !== null && enough(r.majflt) && enough(othersMajflt) && coverage < othersCoverage * UNDERCOUNT_COVERAGE;
    return {
      ...r,
      majflt: Math.round(r.majflt),
      ...(period > 1 ? { period } : {}),
      coverage,
      ...(othersCoverage === null ? {} : { othersCoverage }),
      undercounted,
    };
  });
}

/** Swapped-out mappings kept, largest first. */
export const SWAPPED_MAPPINGS = 10;


/**
 * Where the ranked processes' swap is, from smaps (read with the maps during the capture): each mapping with
 * pages in swap, classified like a faulting mapping. Null when no process had smaps read.
 */
function swappedMappings(
  processes: readonly ProcessRank[],
  procs: CaptureFacts['procs'],
  tmpfsMounts: readonly string[],
): SwappedMapping[] | null {
  let read = false;
  const rows: SwappedMapping[] = [];
  for (const p of processes) {
    const d = procs[String(p.pid)];
    if (!d || d.comm !== p.comm || !d.smapsSwapKb) continue;
    read = true;
    const byStart = new Map(d.maps.map((m) => [m.start.toString(16), m]));
    for (const [start, swapKb] of Object.entries(d.smapsSwapKb)) {
      const m = byStart.get(start);
      if (!m || swapKb < SWAP_MEANINGFUL_KB) continue;
      const c = classifyMapping(m, tmpfsMounts);
      rows.push({ pid: p.pid, comm: p.comm, path: c.path, label: c.label, kind: c.kind, swapKb });
    }
  }
  if (!read) return null;
  return rows.sort((a, b) => b.swapKb - a.swapKb || a.pid - b.pid).slice(0, SWAPPED_MAPPINGS);
}

function captureSummary(capture: CaptureFacts, r: Resolution): CaptureSummary {
  const vm = [...capture.vmstat].sort((a, b) => a.t - b.t);
  const first = vm[0];
  const last = vm[vm.length - 1];
  return {
    tier: capture.tier,
    ...(capture.requested === undefined ? {} : { requested: capture.requested }),
    reason: capture.attempts.find((a) => a.tier === capture.tier && a.ok)?.reason ?? capture.attempts.find((a) => a.tier === capture.tier)?.reason ?? '',
    unavailable: capture.attempts.filter((a) => !a.ok).map(({ tier, reason }) => ({ tier, reason })),
    seconds: capture.seconds,
    samples: r.counted,
    majorSamples: r.major,
    resolved: r.resolved,
    lost: capture.lost,
    majfltDelta: first && last ? Math.max(0, last.pgmajfault - first.pgmajfault) : 0,
    ...(capture.period !== undefined && capture.period > 1 ? { period: capture.period } : {}),
    ...(capture.periodRate === undefined ? {} : { periodRate: capture.periodRate }),
    ...(capture.target === undefined ? {} : { target: capture.target }),
    ...(capture.pidsGone === undefined ? {} : { pidsGone: capture.pidsGone }),
    ...(capture.pidsExited === undefined ? {} : { pidsExited: capture.pidsExited }),
  };
}
