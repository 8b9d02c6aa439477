import type { ResolvedAlert } from '../../model/alert.js';
import type { LinkedHistoryEntry } from '../../model/context.js';
import { hotRegionsView } from '../view.js';
import type { Tier } from '../../model/facts.js';
import { ALERT_THRESHOLD_PER_SEC } from '../../model/limits.js';
import { OPEN_REPORT_ACTION, RUN_AGAIN_ACTION, type RunAgainValue } from '../../model/slack.js';
import type { Trigger, TriageOutcome, TriageStart } from '../../model/triage.js';
import type { VerdictKind } from '../../model/verdict.js';
import { templates, type TemplateSet } from '../templates.js';
import { historyView, utcMinute } from '../history.js';
import { historyLineView } from '../history-line.js';
import { actions, context, header, message, plainContext, section, type SlackMessage } from './blocks.js';

/**
 * The Slack messages of a triage: plain view models in, rendered templates/slack/* out, put into
 * blocks. Every string of a view model is escaped for mrkdwn by the template layer (`&`, `<`, `>`),
 * so a process name or a label can never mention anyone or forge a link. Text from a node or an
 * alert also only ever appears in a code span (`like this`) or in plain_text, so `*` or `_` in it
 * cannot format the message either.
 */

/** Node text longer than this is cut before rendering: the report has the whole of it. */
const NODE_TEXT_MAX = 200;
const NOTE_MAX = 300;
const NOTES_SHOWN = 3;
const FAILURE_MESSAGE_MAX = 600;

/** For a code span: no backtick can close it early, no newline can break it, never empty. */
export function codeText(s: string, max = NODE_TEXT_MAX): string {
  const t = s.replace(/`/g, 'ˋ').replace(/[\r\n\t]+/g, ' ').trim();
  const cut = t.length > max ? `${t.slice(0, max - 1)}…` : t;
  return cut === '' ? '?' : cut;
}

const cut = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** A time as Slack's `<!date^…>` token shows it (in each reader's time zone), with a UTC fallback. */
export interface SlackTime {
  unix: number;
  text: string;
}

export function slackTime(iso: string): SlackTime | null {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms) || ms <= 0) return null;
  const d = new Date(ms).toISOString();
  return { unix: Math.floor(ms / 1000), text: utcMinute(d) };
}

/** Slack user ids as Slack sends them; anything else is not turned into a mention. */
export const slackUserId = /^[UW][A-Z0-9]{2,20}$/;

interface AlertView {
  alertname: string;
  instance: string;
  since: SlackTime | null;
}

interface Origin {
  alert: AlertView | null;
  /** The Slack user who asked (slash command, button), for a `<@U…>` mention. */
  requestedBy: string | null;
  via: string | null;
}

function originOf(trigger: Trigger, command: string): Origin {
  switch (trigger.kind) {
    case 'alert':
      return {
        alert: { alertname: codeText(trigger.alertname), instance: codeText(trigger.labels.instance ?? '(no instance label)'), since: slackTime(trigger.startsAt) },
        requestedBy: null,
        via: null,
      };
    case 'slack':
    case 'button':
      return {
        alert: null,
        requestedBy: slackUserId.test(trigger.user) ? trigger.user : null,
        via: trigger.kind === 'slack' ? `\`${command}\`` : '"Run again"',
      };
    case 'cli':
      return { alert: null, requestedBy: null, via: 'the command line' };
  }
}

// ---------------------------------------------------------------------------------------------
// Start

/** Connecting and resolving add a little to the two windows. */
const OVERHEAD_SECONDS = 3;

export function startView(start: TriageStart, command: string) {
  return {
    id: start.id,
    node: start.node,
    ...originOf(start.trigger, command),
    sampleSeconds: start.sampleSeconds,
    captureSeconds: start.captureSeconds,
    expectedSeconds: start.sampleSeconds + start.captureSeconds + OVERHEAD_SECONDS,
  };
}

export function startMessage(start: TriageStart, command: string, set: TemplateSet = templates()): SlackMessage {
  const view = startView(start, command);
  return message(render(set, 'started-text.txt.hbs', view), [section(render(set, 'started.mrkdwn.hbs', view))]);
}

// ---------------------------------------------------------------------------------------------
// Verdict

const EMOJI: Record<VerdictKind, string> = {
  'swap-thrash': ':rotating_light:',
  'mmap-read': ':rotating_light:',
  'code-reread': ':rotating_light:',
  mixed: ':rotating_light:',
  quiet: ':white_check_mark:',
  inconclusive: ':grey_question:',
  failed: ':x:',
};

const TRACER: Record<Tier, string> = {
  perf: 'perf major-faults',
  bpftrace: 'bpftrace handle_mm_fault',
  tracepoint: 'perf page-fault tracepoint (minor faults included)',
  none: '/proc counters only (no tracer)',
};

/** What the dominant share of faults says, per verdict kind. */
const CAUSE: Partial<Record<VerdictKind, { share: 'swap' | 'file' | 'code'; text: string }>> = {
  'swap-thrash': { share: 'swap', text: 'in swap-backed memory' },
  'mmap-read': { share: 'file', text: 'in mapped file data' },
  'code-reread': { share: 'code', text: 'in program text' },
};

const gib = (kb: number): string => (kb / 1024 / 1024).toFixed(1);

export function verdictView(outcome: TriageOutcome, command: string) {
  const { view: triage, result } = outcome;
  const v = triage.verdict;
  const a = result?.analysis ?? null;
  const kind: VerdictKind = v?.kind ?? 'failed';
  const ranked = a ? (a.processes.find((p) => p.pid === v?.pid) ?? a.processes[0] ?? null) : null;
  const who = ranked?.who ?? null;
  const pid = v?.pid ?? null;
  const comm = v?.comm ?? (ranked && ranked.pid === pid ? ranked.comm : null);
  const causeSpec = CAUSE[kind];
  const causeShare = causeSpec && a && a.capture.resolved > 0 ? a.shares[causeSpec.share] : 0;
  const top = v?.mappings[0] ?? null;
  const started = triage.startedAt ? Date.parse(triage.startedAt) : NaN;
  const finished = triage.finishedAt ? Date.parse(triage.finishedAt) : NaN;
  const seconds = Number.isFinite(started) && Number.isFinite(finished) ? Math.max(0, Math.round((finished - started) / 1000)) : null;
  const sys = a?.system ?? null;
  return {
    id: triage.id,
    node: triage.node,
    emoji: EMOJI[kind],
    summary: cut(v?.summary ?? `triage ${triage.status}`, NODE_TEXT_MAX),
    // Summaries of quiet and failed verdicts name the node already.
    namesNode: (v?.summary ?? '').includes(triage.node),
    failure: v?.failure
      ? {
          code: codeText(v.failure.code, 60),
          retryable: v.failure.retryable,
          // The header shows the summary; the message only when it says more.
          message: v.failure.message !== v.summary ? cut(v.failure.message, FAILURE_MESSAGE_MAX) : null,
        }
      : null,
    confidence: v?.confidence ?? null,
    tracer: v?.tracer ? TRACER[v.tracer] : null,
    // 1 in P faults recorded: the counts behind the verdict are samples.
    sampledPeriod: a?.capture.period !== undefined && a.capture.period > 1 ? a.capture.period : null,
    rate:
      v?.faultsPerSec != null
        ? { perSec: v.faultsPerSec, threshold: sys?.alertThresholdPerSec ?? ALERT_THRESHOLD_PER_SEC }
        : null,
    process:
      pid !== null
        ? {
            pid,
            comm: codeText(comm ?? '?'),
            unit: who?.container ? null : who?.unit ? codeText(who.unit) : null,
            container: who?.container ? codeText(who.container.slice(0, 12)) : null,
            user: who?.user ? codeText(who.user) : who?.uid != null ? String(who.uid) : null,
          }
        : null,
    cause: causeSpec && causeShare > 0 ? { share: causeShare, text: causeSpec.text } : null,
    topMapping: top && kind !== 'quiet' && kind !== 'failed' ? { label: codeText(top.label), share: top.share } : null,
    // Numbers and sizes only: no node text in this line.
    hotRegions: v && a ? (hotRegionsView(v, a)?.line ?? null) : null,
    memory: sys
      ? {
          pswpinPerSec: sys.pswpinPerSec,
          swapTotal: sys.swapTotalKb > 0 ? gib(sys.swapTotalKb) : null,
          swapUsed: gib(sys.swapUsedKb),
          psiFull: sys.psiFullAvg10,
        }
      : null,
    notes: (v?.notes ?? []).slice(0, NOTES_SHOWN).map((n) => cut(n, NOTE_MAX)),
    moreNotes: Math.max(0, (v?.notes.length ?? 0) - NOTES_SHOWN),
    ...originOf(triage.trigger, command),
    seconds,
    reportUrl: outcome.reportUrl,
    history: slackHistory(outcome.history ?? [], v, triage.finishedAt),
    prometheus: triage.context?.prometheus ? historyLineView(triage.context.prometheus) : null,
  };
}


export function verdictMessage(outcome: TriageOutcome, command: string, set: TemplateSet = templates()): SlackMessage {
  const view = verdictView(outcome, command);
  const { view: triage, result, reportUrl } = outcome;
  const [runAgain = 'Run again', openReport = 'Open report'] = render(set, 'verdict-buttons.txt.hbs', view).split('\n');
  const again: RunAgainValue = { node: triage.node };
  if (result) {
    again.sampleSeconds = result.window.sampleSeconds;
    again.captureSeconds = result.window.captureSeconds;
  }
  // Notes and error messages are prose quoting node text: plain text, one line each.
  const details = render(set, 'verdict-details.txt.hbs', view).split('\n').filter((l) => l.trim() !== '');
  const notes = details.length > 0 ? [plainContext(details)] : [];
  return message(render(set, 'verdict-text.txt.hbs', view), [
    header(render(set, 'verdict-title.txt.hbs', view)),
    section(render(set, 'verdict.mrkdwn.hbs', view)),
    ...notes,
    actions(`verdict-${triage.id}`, [
      { actionId: RUN_AGAIN_ACTION, text: runAgain, value: JSON.stringify(again), primary: true },
      ...(reportUrl ? [{ actionId: OPEN_REPORT_ACTION, text: openReport, url: reportUrl }] : []),
    ]),
    context([render(set, 'verdict-context.mrkdwn.hbs', view)]),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Resolved alert (a reply in the triage's thread)

/** The reply under a triage's message when its alert resolves (only for an alert that started one). */
export function resolvedMessage(alert: ResolvedAlert & { triage: NonNullable<ResolvedAlert['triage']> }, set: TemplateSet = templates()): SlackMessage {
  const view = {
    node: alert.node,
    id: alert.triage.id,
    alertname: codeText(alert.alertname),
    instance: codeText(alert.instance ?? '(no instance label)'),
    endsAt: slackTime(alert.endsAt),
    running: alert.triage.status === 'queued' || alert.triage.status === 'running',
  };
  return message(render(set, 'resolved-text.txt.hbs', view), [section(render(set, 'resolved.mrkdwn.hbs', view))]);
}

/** The history line: how often the node was triaged lately, and whether the culprit is the one of last time. */
function slackHistory(history: readonly LinkedHistoryEntry[], v: TriageOutcome['view']['verdict'], at: string | null) {
  if (!v || at === null) return null;
  const h = historyView(history, v, at);
  if (!h) return null;
  return {
    ordinal24h: h.ordinal24h,
    count7d: h.count7d,
    last: h.last
      ? { same: h.last.same, at: slackTime(h.entries.find((e) => e.reportUrl === h.last!.reportUrl)?.finishedAt ?? ''), pid: h.last.pid, comm: codeText(h.last.comm ?? '?'), reportUrl: h.last.reportUrl }
      : null,
  };
}

/** The three messages of a triage for one installation of the app (its slash command's name in the texts). */
export function slackMessages(command: string, set: TemplateSet = templates()) {
  return {
    start: (start: TriageStart) => startMessage(start, command, set),
    verdict: (outcome: TriageOutcome) => verdictMessage(outcome, command, set),
    resolved: (alert: ResolvedAlert & { triage: NonNullable<ResolvedAlert['triage']> }) => resolvedMessage(alert, set),
  };
}

/** Renders one of the templates/slack/* templates, trimmed. */
export function render(set: TemplateSet, name: string, view: object): string {
  return set.render(`slack/${name}`, view, 'mrkdwn').trim();
}
