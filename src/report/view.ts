import type { Tier } from '../model/facts.js';
import type { TriageResult, Trigger } from '../model/triage.js';
import type { VerdictKind } from '../model/verdict.js';

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

export function reportView(r: TriageResult, reportUrl: string | null) {
  const v = r.verdict;
  const a = r.analysis;
  const totalMs = Date.parse(r.finishedAt) - Date.parse(r.startedAt);
  return {
    node: r.node,
    address: r.address,
    title: v.summary,
    kind: v.kind,
    kindTitle: KIND_TITLE[v.kind],
    confidence: v.confidence,
    confidenceWhy: v.confidence ? CONFIDENCE_WHY[v.confidence] : null,
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
      where: p.who?.unit ?? (p.who?.container ? `container ${p.who.container.slice(0, 12)}` : null) ?? p.who?.cgroup ?? '',
      user: p.who?.user ?? (p.who?.uid != null ? String(p.who.uid) : ''),
      cmdline: p.who?.cmdline ?? '',
      majfltPerSec: p.majfltPerSec,
      readBytesPerSec: p.readBytesPerSec,
      swapKb: p.swapKb,
      series: p.series,
    })),
    mappings: (a?.mappings ?? []).slice(0, 15).map((m) => ({
      label: m.pid ? `${m.label} of pid ${m.pid}` : m.label,
      kind: m.kind,
      cause: m.cause,
      faults: m.faults,
      share: m.share,
    })),
    moreMappings: Math.max(0, (a?.mappings.length ?? 0) - 15),
    files: (a?.files ?? []).slice(0, 10),
    system: a?.system ?? null,
    capture: a
      ? {
          ...a.capture,
          tierText: TIER_TEXT[a.capture.tier],
          unavailable: a.capture.unavailable.map((u) => ({ tier: u.tier, reason: u.reason })),
        }
      : null,
    shares: a?.shares ?? null,
    nextSteps: `next-steps/${v.kind}.md.hbs`,
    verdict: { pid: v.pid, comm: v.comm, path: v.path, kind: v.kind },
  };
}

export type ReportView = ReturnType<typeof reportView>;
