import {
  runOptionsSchema,
  slackDeliveryStateSchema,
  triageResultSchema,
  triageStatusSchema,
  triggerSchema,
  type TriageRecord,
  type TriageResult,
} from '../model/triage.js';
import { analysisSchema, verdictSchema, type Analysis } from '../model/verdict.js';
import { triageContextSchema, type TriageContext } from '../model/context.js';
import type { OutboxRow, OutboxState } from './store.js';

/** Rows as both stores read them (the same columns, the same SQL for them), and what they become. */

export interface TriageRow {
  id: string;
  node: string;
  trigger_json: string;
  options_json: string;
  status: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  verdict_json: string | null;
  /** SQLite answers 0/1, PostgreSQL a boolean. */
  has_report: boolean | number;
  slack_channel: string | null;
  slack_ts: string | null;
  slack_state: string | null;
  slack_error: string | null;
  context_json: string | null;
}

export const COLUMNS =
  'id, node, trigger_json, options_json, status, created_at, started_at, finished_at, verdict_json, report_md IS NOT NULL AS has_report, slack_channel, slack_ts, slack_state, slack_error, context_json';

export function toRecord(row: TriageRow): TriageRecord {
  return {
    id: row.id,
    node: row.node,
    trigger: triggerSchema.parse(JSON.parse(row.trigger_json)),
    options: runOptionsSchema.parse(JSON.parse(row.options_json)),
    status: triageStatusSchema.parse(row.status),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    verdict: row.verdict_json === null ? null : verdictSchema.parse(JSON.parse(row.verdict_json)),
    hasReport: row.has_report === true || row.has_report === 1,
    slack:
      row.slack_state === null
        ? null
        : { state: slackDeliveryStateSchema.parse(row.slack_state), error: row.slack_error, channel: row.slack_channel, ts: row.slack_ts },
    context: row.context_json === null ? null : parseContext(row.context_json),
  };
}

/** Stored context that no longer has its shape (an older or trimmed record) is left out rather than failing the read. */
function parseContext(json: string): TriageContext | null {
  try {
    const parsed = triageContextSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The stored evidence as the engine produced it, when it is there and whole (trimmed evidence may not parse). */
export function parseEvidence(json: string | undefined): TriageResult | null {
  if (json === undefined) return null;
  try {
    const parsed = triageResultSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The analysis inside the stored evidence, if it is there and still has its shape (evidence may be trimmed). */
export function parseAnalysis(json: string | undefined): Analysis | null {
  if (json === undefined) return null;
  try {
    const parsed = analysisSchema.safeParse((JSON.parse(json) as { analysis?: unknown }).analysis);
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** A slack_outbox row as both stores read it. */
export interface OutboxTableRow {
  seq: number;
  triage_id: string | null;
  purpose: string;
  call_json: string;
  state: OutboxState;
  attempts: number;
  created_ms: number;
  next_ms: number;
  last_error: string | null;
  unsure_ms: number | null;
}

export const OUTBOX_COLUMNS = 'seq, triage_id, purpose, call_json, state, attempts, created_ms, next_ms, last_error, unsure_ms';

export const toOutboxRow = (r: OutboxTableRow): OutboxRow => ({
  seq: r.seq,
  triageId: r.triage_id,
  purpose: r.purpose,
  callJson: r.call_json,
  state: r.state,
  attempts: r.attempts,
  createdMs: r.created_ms,
  nextMs: r.next_ms,
  lastError: r.last_error,
  unsureMs: r.unsure_ms,
});
