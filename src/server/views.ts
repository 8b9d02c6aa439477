import type { Trigger } from '../model/triage.js';
import type { Verdict } from '../model/verdict.js';
import type { SlackDelivery, TriageRecord, TriageStatus } from '../store/triage-store.js';
import { signedQuery } from './report-access.js';

/** A triage as GET /triages/:id shows it (design.md, HTTP). */
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
  /** Only for a triage meant for Slack: whether its messages got there, e.g. `{slack: {state: 'failed', error: 'channel_not_found'}}`. */
  notify?: { slack: { state: SlackDelivery['state']; error: string | null } };
}

/** With server.reportToken, `reportUrl` carries the link signature (see report-access.ts). */
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
    ...(r.slack ? { notify: { slack: { state: r.slack.state, error: r.slack.error } } } : {}),
  };
}

export function reportUrl(publicUrl: string, id: string, reportToken?: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/reports/${id}${signedQuery(reportToken, id)}`;
}
