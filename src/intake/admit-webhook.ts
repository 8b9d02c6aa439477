import type { Config } from '../config/schema.js';
import type { AdmitOutcome, AdmitRequest, Dispatcher } from '../dispatch/dispatcher.js';
import type { AlertOutcome } from '../metrics.js';
import type { ResolvedAlert } from '../model/alert.js';
import type { Webhook } from './alertmanager.js';
import { routeAlert } from './route-alert.js';

/** The 202 body of POST /alerts (the HTTP contract, README). */
export interface WebhookAnswer {
  triages: { id: string; node: string; fingerprint: string; status: 'queued' | 'duplicate' }[];
  ignored: { fingerprint: string; reason: string }[];
}

export interface Admitted {
  answer: WebhookAnswer;
  outcomes: AlertOutcome[];
  /** Resolved alerts of known nodes; the triage each started is looked up by the caller. */
  resolved: Omit<ResolvedAlert, 'triage'>[];
}

/**
 * Turns each alert of a webhook into a triage, a duplicate, a cancellation or an ignored entry with
 * its reason, admitted in one store transaction. Nothing is dropped without a line in the answer.
 */
export async function admitWebhook(webhook: Webhook, config: Pick<Config, 'triage' | 'nodes'>, dispatcher: Pick<Dispatcher, 'admit'>): Promise<Admitted> {
  const routed = webhook.alerts.map((alert) => ({ alert, routed: routeAlert(alert, config) }));
  const requests: AdmitRequest[] = [];
  for (const { alert, routed: r } of routed) {
    if (r.kind === 'resolved') requests.push({ op: 'cancel', node: r.node.name, fingerprint: alert.fingerprint, message: 'cancelled: the alert resolved before the triage started' });
    if (r.kind === 'firing') requests.push({ op: 'alert', node: r.node, trigger: r.trigger });
  }
  const results: AdmitOutcome[] = requests.length > 0 ? await dispatcher.admit(requests) : [];
  let next = 0;
  const answer: WebhookAnswer = { triages: [], ignored: [] };
  const outcomes: AlertOutcome[] = [];
  const resolved: Admitted['resolved'] = [];
  for (const { alert, routed: r } of routed) {
    const fingerprint = alert.fingerprint;
    switch (r.kind) {
      case 'ignored':
        answer.ignored.push({ fingerprint, reason: r.reason });
        outcomes.push('ignored');
        break;
      case 'resolved': {
        const node = r.node.name;
        const res = results[next++]!;
        const cancelled = res.status === 'cancelled' ? res.ids : [];
        const reason = cancelled.length > 0 ? `resolved: cancelled queued triage ${cancelled.join(', ')} of node ${node}` : `resolved: no queued triage of node ${node} to cancel`;
        answer.ignored.push({ fingerprint, reason });
        outcomes.push('resolved');
        resolved.push({
          node,
          fingerprint,
          startsAt: alert.startsAt,
          alertname: alert.labels.alertname ?? 'alert',
          instance: alert.labels.instance ?? null,
          endsAt: alert.endsAt && !alert.endsAt.startsWith('0001-') ? alert.endsAt : new Date().toISOString(),
          cancelled,
        });
        break;
      }
      case 'firing': {
        const a = results[next++]!;
        if (a.status === 'cancelled') throw new Error('admission answered a firing alert with a cancellation');
        if (a.status === 'queued' || a.status === 'duplicate') {
          answer.triages.push({ id: a.id, node: a.node, fingerprint, status: a.status });
        } else {
          answer.ignored.push({ fingerprint, reason: a.reason });
        }
        outcomes.push(a.status);
        break;
      }
    }
  }
  return { answer, outcomes, resolved };
}
