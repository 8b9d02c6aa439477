import type { Trigger } from '../model/triage.js';
import type { Verdict } from '../model/verdict.js';
import type { TriageRecord, TriageStatus } from '../store/triage-store.js';

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
}

export function toTriageView(r: TriageRecord, publicUrl: string): TriageView {
  return {
    id: r.id,
    node: r.node,
    trigger: r.trigger,
    status: r.status,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    verdict: r.verdict,
    reportUrl: r.hasReport ? reportUrl(publicUrl, r.id) : null,
  };
}

export function reportUrl(publicUrl: string, id: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/reports/${id}`;
}
