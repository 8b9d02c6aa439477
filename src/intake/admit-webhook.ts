import type { Config } from '../config/schema.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
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
 * its reason. Nothing is dropped without a line in the answer.
 */
export function admitWebhook(webhook: Webhook, config: Pick<Config, 'triage' | 'nodes'>, dispatcher: Dispatcher): Admitted {
  const answer: WebhookAnswer = { triages: [], ignored: [] };
  const outcomes: AlertOutcome[] = [];
  const resolved: Admitted['resolved'] = [];
  for (const alert of webhook.alerts) {
    const routed = routeAlert(alert, config);
    const fingerprint = alert.fingerprint;
    switch (routed.kind) {
      case 'ignored':
        answer.ignored.push({ fingerprint, reason: routed.reason });
        outcomes.push('ignored');
        break;
      case 'resolved': {
        const node = routed.node.name;
        const cancelled = dispatcher.cancelQueued(node, fingerprint, 'cancelled: the alert resolved before the triage started');
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
        const a = dispatcher.admitAlert(routed.node, routed.trigger);
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
