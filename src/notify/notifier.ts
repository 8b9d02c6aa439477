import type { ResolvedAlert } from '../model/alert.js';
import type { TriageOutcome, TriageStart } from '../model/triage.js';

/**
 * Where a triage's story goes: the log (log.ts) or Slack (slack/notifier.ts). The service hands each
 * notifier what the triage produced, after the store has it, so a notifier may link to it and never
 * needs to read it back. A notifier's failure is logged and never fails a triage.
 */
export interface Notifier {
  triageStarted(start: TriageStart): Promise<void>;
  triageFinished(outcome: TriageOutcome): Promise<void>;
  /** A resolved notification for a known node. */
  alertResolved(alert: ResolvedAlert): Promise<void>;
  /** Begins delivering, once the service has recovered its store (a notifier with its own queue). */
  start?(): void | Promise<void>;
  /** Stops delivering; called before the store closes. */
  close?(): Promise<void>;
}
