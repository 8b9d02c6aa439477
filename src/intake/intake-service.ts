import type { Config } from '../config/schema.js';
import type { Metrics } from '../metrics.js';
import type { Admission, ManualTrigger, RunOptions, TriageView } from '../model/triage.js';
import type { VerdictKind } from '../model/verdict.js';
import type { Webhook } from './alertmanager.js';
import type { WebhookAnswer } from './admit-webhook.js';

/**
 * What intake needs of the service behind it: the routes (HTTP today, a socket tomorrow) validate and
 * authenticate, then hand over through this and answer. The service (src/service.ts) provides it.
 */
export interface IntakeService {
  readonly config: Config;
  readonly metrics: Metrics;
  /** True while the service takes new triages: not closing, and the store answers. */
  ready(): boolean;
  /** False while the store does not answer (the last check, at most a second old). */
  storeReachable(): boolean;
  /** Throws TriageError('store_unavailable') when the alerts cannot be recorded (answer 503: Alertmanager retries). */
  receiveWebhook(webhook: Webhook): Promise<WebhookAnswer>;
  /** A triage someone asked for. Throws TriageError('unknown_node'). */
  requestTriage(nodeName: string, trigger: ManualTrigger, options?: RunOptions): Promise<Admission>;
  listTriages(filter: { node?: string | undefined; kind?: VerdictKind | undefined; limit: number; offset?: number }): Promise<TriageView[]>;
  /** Answers the person who asked, privately, through the response_url Slack gave (no-op without Slack). */
  respond(responseUrl: string, text: string): void;
  /**
   * Runs `handle` once per key (a Slack trigger or envelope id), across restarts and replicas sharing the
   * store. A repeat does not run it: it gets the first answer back (null while the first is still handling it).
   */
  handleOnce(key: string, handle: () => Promise<string>): Promise<{ first: boolean; answer: string | null }>;
}
