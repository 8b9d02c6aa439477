import { runOptionsSchema, slackDeliveryStateSchema, triageStatusSchema, triggerSchema, type TriageRecord } from '../../model/triage.js';
import { verdictSchema } from '../../model/verdict.js';
import { triageContextSchema, type TriageContext } from '../../model/context.js';

/** A triages row as the store reads it, and how it becomes a TriageRecord (as in the SQLite store). */

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
  has_report: boolean;
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
    hasReport: row.has_report,
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
