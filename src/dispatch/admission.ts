import type { Config } from '../config/schema.js';
import type { AlertTrigger } from '../model/triage.js';
import { alertDedupKey, type TriageStore } from '../store/triage-store.js';

/**
 * The two rules that keep Alertmanager from starting more triages than it should. Both read the
 * store, so they hold across restarts.
 */

/** Alertmanager resends a notification with the same fingerprint and startsAt. */
export function dedupKey(trigger: AlertTrigger): string {
  return alertDedupKey(trigger.fingerprint, trigger.startsAt);
}

/** The triage this notification already started, if any. */
export function findDuplicate(store: TriageStore, trigger: AlertTrigger): { id: string } | undefined {
  return store.findByDedupKey(dedupKey(trigger));
}

/** Why the node may not get another automatic triage yet, or undefined when it may. */
export function cooldownReason(store: TriageStore, node: string, triage: Config['triage'], now: Date): { id: string; reason: string } | undefined {
  if (triage.cooldownSeconds === 0) return undefined;
  const windowMs = triage.cooldownSeconds * 1000;
  const last = store.lastAutomatic(node, new Date(now.getTime() - windowMs));
  if (!last) return undefined;
  const until = new Date(Date.parse(last.createdAt) + windowMs).toISOString();
  return {
    id: last.id,
    reason: `node ${node} is in cooldown: triage ${last.id} was started by an alert at ${last.createdAt}; the next automatic triage can start after ${until}`,
  };
}
