import type { LinkedHistoryEntry } from '../model/context.js';
import { fmtBytes, hotRegionsLine } from './hot-regions.js';
import type { Tier } from '../model/facts.js';
import { MAJORITY_SHARE, SHMEM_NOTE_SHARE } from '../model/limits.js';
import type { TriageResult, Trigger } from '../model/triage.js';
import type { ProcessRank, SystemMemory, VerdictKind, Who } from '../model/verdict.js';
import { CodeText, OwnText } from './escape.js';
import { historyView } from './history.js';
import { historyLineView, historySpark } from './history-line.js';
import type { PrometheusContext } from '../model/prometheus-context.js';
import { SPARK, sparkGlyph } from './spark.js';

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

/** The tracer by the name an operator installs or allows (next steps). */
const TRACER_NAME: Record<Tier, string> = { perf: 'perf', bpftrace: 'bpftrace', tracepoint: 'perf', none: 'no tracer' };

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

/**
 * The node's per-second rate against the alert threshold. Sparklines share one scale, from 0 to the larger
 * of the threshold and the highest rate shown, so bars of different rows compare and the threshold has a
 * fixed height.
 */
function rateScale(system: SystemMemory | null, processes: readonly ProcessRank[]) {
  if (!system) return null;
  const peak = Math.max(0, ...system.series);
  const top = Math.max(peak, system.alertThresholdPerSec, ...processes.flatMap((p) => p.series));
  return {
    max: top,
    peak,
    seconds: system.series.length,
    secondsAbove: system.series.filter((x) => x > system.alertThresholdPerSec).length,
    above: system.pgmajfaultPerSec > system.alertThresholdPerSec,
    thresholdGlyph: top > 0 ? sparkGlyph(system.alertThresholdPerSec, top) : SPARK[0]!,
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

export function reportView(r: TriageResult, reportUrl: string | null, history: readonly LinkedHistoryEntry[] = [], prometheus?: PrometheusContext) {
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
    // 1 in P major faults recorded (perf -c P): said next to the confidence and above the fault counts.
    sampled:
      a?.capture.period !== undefined && a.capture.period > 1
        ? { period: a.capture.period, rate: a.capture.periodRate ?? null, faults: a.capture.samples * a.capture.period }
        : null,
    // A quiet verdict rests on the kernel's own counter, whatever the tracer.
    confidenceWhy: v.kind === 'quiet' ? 'the kernel\'s pgmajfault counter' : v.confidence ? CONFIDENCE_WHY[v.confidence] : null,
    finishedAt: r.finishedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC'),
    trigger: describeTrigger(r.trigger),
    reportUrl: reportUrl === null ? null : new OwnText(reportUrl),
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
    swapped: (a?.swapped ?? []).map((m) => ({ ...m, label: m.label, comm: m.comm })),
    mappings: (a?.mappings ?? []).slice(0, 15).map((m) => ({
      label: m.label,
      pid: m.pid,
      kind: m.kind,
      cause: m.cause,
      faults: m.faults,
      share: m.share,
    })),
    moreMappings: Math.max(0, (a?.mappings.length ?? 0) - 15),
    files: (a?.files ?? []).slice(0, 10).map((f) => ({ ...f, path: f.path })),
    hotRegions: hotRegionsView(v, a),
    system: a?.system ?? null,
    capture: a
      ? {
          ...a.capture,
          tierText: TIER_TEXT[a.capture.tier],
          tracerName: TRACER_NAME[a.capture.tier],
          allFaults: a.capture.majorSamples < a.capture.samples,
          forced,
          target: a.capture.target ?? null,
          unavailable: a.capture.unavailable.map((u) => ({ tier: u.tier, tierText: TIER_TEXT[u.tier], reason: u.reason })),
        }
      : null,
    shares: a?.shares ?? null,
    history: markdownHistory(history, v, r.finishedAt),
    prometheus: prometheus ? { line: historyLineView(prometheus), spark: historySpark(prometheus) } : null,
    nextSteps: `next-steps/${v.kind}.md.hbs`,
    majorityPct: Math.round(MAJORITY_SHARE * 100),
    verdict: {
      pid: v.pid,
      comm: v.comm === null ? null : new CodeText(v.comm),
      path: v.path === null ? null : new CodeText(v.path),
      kind: v.kind,
      confidence: v.confidence,
      tracer: v.tracer,
      shmem: shmemShare(a) >= SHMEM_NOTE_SHARE,
    },
  };
}


/** The history section: node names as code, the bot's own links as they are. */
function markdownHistory(history: readonly LinkedHistoryEntry[], v: TriageResult['verdict'], at: string) {
  const h = historyView(history, v, at);
  if (!h) return null;
  return {
    ...h,
    last: h.last ? { ...h.last, comm: h.last.comm === null ? null : new CodeText(h.last.comm), reportUrl: new OwnText(h.last.reportUrl) } : null,
    entries: h.entries.map((e) => ({ ...e, comm: e.comm === null ? null : new CodeText(e.comm), path: e.path === null ? null : new CodeText(e.path), reportUrl: new OwnText(e.reportUrl) })),
  };
}

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
