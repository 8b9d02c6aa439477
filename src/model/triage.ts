import { z } from 'zod';
import type { LinkedHistoryEntry, TriageContext } from './context.js';
import { nodeInfoSchema } from './facts.js';
import { reportUrl } from './report-link.js';
import { analysisSchema, verdictSchema, type Verdict } from './verdict.js';

/**
 * A triage, in the words every stage shares: what started it, how it was asked to run, where it stands, what
 * it produced, and how it is shown (GET /triages/:id, the notifier).
 */

/** What started a triage. Alert fields are kept for the report and dedup, never sent to a node. */
export const triggerSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('alert'),
    alertname: z.string(),
    fingerprint: z.string(),
    startsAt: z.string(),
    labels: z.record(z.string(), z.string()),
    annotations: z.record(z.string(), z.string()),
  }),
  z.object({ kind: z.literal('cli') }),
  z.object({ kind: z.literal('slack'), user: z.string(), channel: z.string().nullable() }),
  /** "Run again": `threadTs` is the thread the pressed message belongs to; the new triage posts there. */
  z.object({ kind: z.literal('button'), user: z.string(), channel: z.string().nullable(), threadTs: z.string().optional() }),
]);
export type Trigger = z.infer<typeof triggerSchema>;
export type AlertTrigger = Extract<Trigger, { kind: 'alert' }>;
/** A triage someone asked for: the command line, a slash command, a button. */
export type ManualTrigger = Exclude<Trigger, { kind: 'alert' }>;

/** Per-triage overrides of the playbook windows (manual triages). */
export const runOptionsSchema = z.object({
  sampleSeconds: z.number().int().positive().optional(),
  captureSeconds: z.number().int().positive().optional(),
});
export type RunOptions = z.infer<typeof runOptionsSchema>;

export const triageStatusSchema = z.enum(['queued', 'running', 'done', 'failed']);
export type TriageStatus = z.infer<typeof triageStatusSchema>;

export const stepNameSchema = z.enum(['connect', 'rank', 'capture', 'resolve']);
export type StepName = z.infer<typeof stepNameSchema>;

export const stepTimingSchema = z.object({ step: stepNameSchema, ms: z.number() });
export type StepTiming = z.infer<typeof stepTimingSchema>;

/** The outcome of running the pipeline once against a node. */
export const triageResultSchema = z.object({
  node: z.string(),
  /** ssh host, or "local". */
  address: z.string(),
  trigger: triggerSchema,
  startedAt: z.string(),
  finishedAt: z.string(),
  window: z.object({ sampleSeconds: z.number(), captureSeconds: z.number() }),
  timings: z.array(stepTimingSchema),
  nodeInfo: nodeInfoSchema.nullable(),
  verdict: verdictSchema,
  analysis: analysisSchema.nullable(),
});
export type TriageResult = z.infer<typeof triageResultSchema>;

/** Where a triage stands with Slack (null when it was never meant for Slack). */
export const slackDeliveryStateSchema = z.enum(['pending', 'sent', 'failed']);
export type SlackDeliveryState = z.infer<typeof slackDeliveryStateSchema>;

export interface SlackDelivery {
  state: SlackDeliveryState;
  /** The permanent error when failed; the last transient one while pending. */
  error: string | null;
  /** The bot's message for this triage, once posted (chat.update needs the channel id, not a name). */
  channel: string | null;
  ts: string | null;
}

/** A triage as the store keeps it. */
export interface TriageRecord {
  id: string;
  node: string;
  trigger: Trigger;
  options: RunOptions;
  status: TriageStatus;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  verdict: Verdict | null;
  hasReport: boolean;
  slack: SlackDelivery | null;
  /** What was known around the triage (earlier triages of the node…), once it ran. */
  context?: TriageContext | null;
}

/** A triage as GET /triages/:id shows it (the HTTP contract). */
export interface TriageView {
  id: string;
  node: string;
  trigger: Trigger;
  status: TriageStatus;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  verdict: Verdict | null;
  reportUrl: string | null;
  /** What was known around the triage: the node's earlier triages (GET /triages/:id). */
  context?: TriageContext;
  /** Only for a triage meant for Slack: whether its messages got there, e.g. `{slack: {state: 'failed', error: 'channel_not_found'}}`. */
  notify?: { slack: { state: SlackDeliveryState; error: string | null } };
}

/** With server.reportToken, `reportUrl` carries the link signature (report-link.ts). */
export function toTriageView(r: TriageRecord, publicUrl: string, reportToken?: string): TriageView {
  return {
    id: r.id,
    node: r.node,
    trigger: r.trigger,
    status: r.status,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    verdict: r.verdict,
    reportUrl: r.hasReport ? reportUrl(publicUrl, r.id, reportToken) : null,
    ...(r.context ? { context: r.context } : {}),
    ...(r.slack ? { notify: { slack: { state: r.slack.state, error: r.slack.error } } } : {}),
  };
}

/** A triage that is starting, as the notifier announces it: the windows are the ones it will really use. */
export interface TriageStart {
  id: string;
  node: string;
  trigger: Trigger;
  sampleSeconds: number;
  captureSeconds: number;
}

/** What a finished triage hands forward to the notifier: everything it produced, nothing to read back. */
export interface TriageOutcome {
  view: TriageView;
  /** The engine's result (null for a triage that ended without running, e.g. interrupted). */
  result: TriageResult | null;
  /** Null when no report could be rendered. */
  reportUrl: string | null;
  /** The node's earlier triages, with links to their reports (newest first). */
  history?: readonly LinkedHistoryEntry[];
}

/** What became of a request for a triage: queued, the one already there, or refused with the reason. */
export type Admission =
  | { status: 'queued'; id: string; node: string }
  | { status: 'duplicate'; id: string; node: string }
  | { status: 'dropped'; id: string; node: string; reason: string }
  | { status: 'cooldown'; id: string; node: string; reason: string };
