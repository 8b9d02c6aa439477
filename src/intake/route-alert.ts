import type { Config, NodeConfig } from '../config/schema.js';
import { matchNode } from '../config/inventory.js';
import type { AlertTrigger } from '../model/triage.js';
import type { WebhookAlert } from './alertmanager.js';

/** What one alert of a webhook asks for: a triage of a node, the end of one, or nothing (with why). */
export type RoutedAlert =
  | { kind: 'firing'; node: NodeConfig; trigger: AlertTrigger }
  | { kind: 'resolved'; node: NodeConfig; alert: WebhookAlert }
  | { kind: 'ignored'; fingerprint: string; reason: string };

/** Label values are quoted and cut so a reason stays one short line whatever the sender put there. */
function quote(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

export function routeAlert(alert: WebhookAlert, config: Pick<Config, 'triage' | 'nodes'>): RoutedAlert {
  const { fingerprint, labels } = alert;
  const alertname = labels.alertname;
  if (alertname === undefined) return { kind: 'ignored', fingerprint, reason: 'the alert has no alertname label' };
  if (!config.triage.alertnames.includes(alertname)) {
    return { kind: 'ignored', fingerprint, reason: `alertname ${quote(alertname)} is not in triage.alertnames` };
  }
  const node = matchNode(config.nodes, labels);
  if (!node) {
    const instance = labels.instance === undefined ? 'no instance label' : `instance=${quote(labels.instance)}`;
    return { kind: 'ignored', fingerprint, reason: `no node in the inventory matches the alert (${instance})` };
  }
  if (alert.status === 'resolved') return { kind: 'resolved', node, alert };
  return {
    kind: 'firing',
    node,
    trigger: { kind: 'alert', alertname, fingerprint, startsAt: alert.startsAt, labels, annotations: alert.annotations },
  };
}
