import type { WebhookAlert } from '../intake/alertmanager.js';
import type { TriageView } from '../server/views.js';

/**
 * Where verdicts go once stored: the log (src/notify/log.ts) or Slack (src/notify/slack/notifier.ts). Calls come after the store has the state
 * they announce, so a notifier may link to it. A notifier's failure is logged and never fails a triage.
 */
export interface Notifier {
  triageStarted(triage: TriageView): Promise<void>;
  /** `reportUrl` is null when no report could be rendered. */
  triageFinished(triage: TriageView, reportUrl: string | null): Promise<void>;
  /** A resolved notification for a known node; `cancelled` lists its queued triages that will not run. */
  alertResolved(node: string, alert: WebhookAlert, cancelled: readonly string[]): Promise<void>;
  /** Begins delivering, once the service has recovered its store (a notifier with its own queue). */
  start?(): void;
  /** Stops delivering; called before the store closes. */
  close?(): Promise<void>;
}
