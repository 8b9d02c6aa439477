import { fmtBytes, hotRegionsLine } from '../analysis/hot-regions.js';
import { MAJORITY_SHARE, SHMEM_NOTE_SHARE } from '../analysis/verdict.js';
import type { Tier } from '../model/facts.js';
import type { TriageResult, Trigger } from '../model/triage.js';
import type { ProcessRank, SystemMemory, VerdictKind, Who } from '../model/verdict.js';

/**
 * The report's view model: plain data, nothing formatted that a template could format itself.
 * Strings here may come from the node or the alert; the template layer escapes them all.
 */

const KIND_TITLE: Record<VerdictKind, string> = {
  'swap-thrash': 'swap thrash',
  'mmap-read': 'mmap reads',
  'code-reread': 'program text re-read',
  mixed: 'mixed causes',
  quiet: 'quiet',
  inconclusive: 'inconclusive',
  failed: 'triage failed',
};

const TIER_TEXT: Record<Tier, string> = {
  perf: 'perf major-faults (exact major-fault addresses)',
  bpftrace: 'bpftrace on handle_mm_fault (major faults from the fault return value and flags)',
  tracepoint: 'perf exceptions:page_fault_user (all user page faults, minor ones included)',
  none: '/proc evidence only (no fault addresses)',
};

const CONFIDENCE_WHY: Record<string, string> = {
  high: 'exact major-fault addresses',
  medium: 'fault addresses from a less exact tracer',
  low: '/proc counters only, no fault addresses',
};

export function describeTrigger(t: Trigger): string {
  switch (t.kind) {
    case 'alert': {
      const instance = t.labels.instance ? `, instance=${t.labels.instance}` : '';
      return `Alertmanager: ${t.alertname}${instance}, firing since ${t.startsAt}`;
    }
    case 'cli':
      return 'command line (pagefault-triage run)';
    case 'slack':
      return `Slack command by ${t.user}`;
    case 'button':
      return `"Run again" by ${t.user}`;
  }
}

/**
 * Where a process runs, as an SRE names it: container and pod, else systemd unit, else the last part
 * of the cgroup path, shortened (the full path is in the command-line table).
 */
export function whereOf(who: Who | null): string {
  if (!who) return '';
  const pod = who.podUid ? `pod ${who.podUid}` : null;
  if (who.container) return [`container ${who.container.slice(0, 12)}`, pod].filter(Boolean).join(' · ');
  if (who.unit) return who.unit;
  if (pod) return pod;
  if (!who.cgroup || who.cgroup === '/') return '';
  const last = who.cgroup.split('/').filter(Boolean).at(-1) ?? who.cgroup;
  return last.length > 24 ? `…/${last.slice(0, 23)}…` : `…/${last}`;
}

const SPARK = '▁▂▃▄▅▆▇█';

/**
 * The node's per-second rate against the alert threshold. Sparklines share one scale, from 0 to the larger
 * of the threshold and the highest rate shown, so bars of different rows compare and the threshold has a
 * fixed height.
 */
function rateScale(system: SystemMemory | null, processes: readonly ProcessRank[]) {
  if (!system) return null;
  const peak = Math.max(0, ...system.series);
  const top = Math.max(peak, system.alertThresholdPerSec, ...processes.flatMap((p) => p.series));
  const level = top > 0 ? Math.min(SPARK.length - 1, Math.floor((system.alertThresholdPerSec / top) * (SPARK.length - 1) + 0.5)) : 0;
  return {
    max: top,
    peak,
    seconds: system.series.length,
    secondsAbove: system.series.filter((x) => x > system.alertThresholdPerSec).length,
    above: system.pgmajfaultPerSec > system.alertThresholdPerSec,
    thresholdGlyph: SPARK[level]!,
  };
}

/** Share of the evidence in shared memory: of the resolved faults, else of what the processes have in swap. */
function shmemShare(a: TriageResult['analysis']): number {
  if (!a) return 0;
  const faults = a.mappings.filter((m) => m.kind === 'shmem').reduce((n, m) => n + m.faults, 0);
  if (a.capture.resolved > 0) return faults / a.capture.resolved;
  const swapped = a.swapped ?? [];
  const total = swapped.reduce((n, m) => n + m.swapKb, 0);
  return total > 0 ? swapped.filter((m) => m.kind === 'shmem').reduce((n, m) => n + m.swapKb, 0) / total : 0;
}

export function reportView(r: TriageResult, reportUrl: string | null) {
  const v = r.verdict;
  const a = r.analysis;
  const totalMs = Date.parse(r.finishedAt) - Date.parse(r.startedAt);
  const forced = a?.capture.requested !== undefined && a.capture.requested !== 'auto' ? a.capture.requested : null;
  return {
    node: r.node,
    address: r.address,
    title: v.summary,
    kind: v.kind,
    kindTitle: KIND_TITLE[v.kind],
    confidence: v.confidence,
    // A quiet verdict rests on the kernel's own counter, whatever the tracer.
    confidenceWhy: v.kind === 'quiet' ? 'the kernel\'s pgmajfault counter' : v.confidence ? CONFIDENCE_WHY[v.confidence] : null,
    finishedAt: r.finishedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC'),
    trigger: describeTrigger(r.trigger),
    reportUrl,
    nodeInfo: r.nodeInfo
      ? { hostname: r.nodeInfo.hostname, kernel: r.nodeInfo.kernel, nproc: r.nodeInfo.nproc }
      : null,
    memTotalKb: a?.system.memTotalKb ?? null,
    swapTotalKb: a?.system.swapTotalKb ?? null,
    timings: r.timings.map((t) => ({ step: t.step, ms: t.ms })),
    totalMs,
    window: r.window,
    failure: v.failure,
    notes: v.notes,
    processes: (a?.processes ?? []).map((p) => ({
      pid: p.pid,
      comm: p.comm,
      where: whereOf(p.who),
      user: p.who?.user ?? (p.who?.uid != null ? String(p.who.uid) : ''),
      cmdline: p.who?.cmdline ?? '',
      cgroup: p.who?.cgroup ?? '',
      majfltPerSec: p.majfltPerSec,
      readBytesPerSec: p.readBytesPerSec,
      swapKb: p.swapKb,
      swapGrowthKb: p.swapGrowthKb ?? null,
      series: p.series,
    })),
    rate: a ? rateScale(a.system, a.processes) : null,
    swapped: a?.swapped ?? [],
    mappings: (a?.mappings ?? []).slice(0, 15).map((m) => ({
      label: m.pid ? `${m.label} of pid ${m.pid}` : m.label,
      kind: m.kind,
      cause: m.cause,
      faults: m.faults,
      share: m.share,
    })),
    moreMappings: Math.max(0, (a?.mappings.length ?? 0) - 15),
    files: (a?.files ?? []).slice(0, 10),
    hotRegions: hotRegionsView(v, a),
    system: a?.system ?? null,
    capture: a
      ? {
          ...a.capture,
          tierText: TIER_TEXT[a.capture.tier],
          allFaults: a.capture.majorSamples < a.capture.samples,
          forced,
          target: a.capture.target ?? null,
          unavailable: a.capture.unavailable.map((u) => ({ tier: u.tier, tierText: TIER_TEXT[u.tier], reason: u.reason })),
        }
      : null,
    shares: a?.shares ?? null,
    nextSteps: `next-steps/${v.kind}.md.hbs`,
    majorityPct: Math.round(MAJORITY_SHARE * 100),
    verdict: {
      pid: v.pid,
      comm: v.comm,
      path: v.path,
      kind: v.kind,
      confidence: v.confidence,
      tracer: v.tracer,
      shmem: shmemShare(a) >= SHMEM_NOTE_SHARE,
    },
  };
}

export type ReportView = ReturnType<typeof reportView>;

/** Where in the file, for a verdict that names that file (mmap-read, code-reread); null otherwise. */
export function hotRegionsView(v: TriageResult['verdict'], a: TriageResult['analysis']) {
  const h = a?.hotRegions;
  if (!h || v.path !== h.path || (v.kind !== 'mmap-read' && v.kind !== 'code-reread')) return null;
  return {
    path: h.path,
    line: hotRegionsLine(h),
    ranges: h.ranges.map((r) => ({ range: `${fmtBytes(r.start)}–${fmtBytes(r.end)}`, faults: r.faults, share: r.share })),
  };
}
