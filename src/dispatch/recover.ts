import { findNode } from '../config/inventory.js';
import type { Config } from '../config/schema.js';
import { TriageError } from '../errors.js';
import type { Log } from '../log.js';
import { failureVerdict } from '../model/failure.js';
import type { Store } from '../store/store.js';

/**
 * At start, triages left queued with nobody to run them: those older than triage.requeueMaxAgeSeconds, or whose
 * node left the inventory, are marked interrupted (the alert was answered 202, so Alertmanager will not resend
 * it, and a late answer is of no use); the others stay queued and run. Running triages are not touched here:
 * their lease says whether their replica is alive, and the dispatcher takes over the expired ones.
 */
export async function recover(config: Config, store: Store, log: Log, now: Date): Promise<void> {
  const maxAgeMs = config.triage.requeueMaxAgeSeconds * 1000;
  for (const r of await store.unfinished()) {
    if (r.status !== 'queued') continue;
    const ageMs = now.getTime() - Date.parse(r.createdAt);
    let message: string | null = null;
    if (!findNode(config.nodes, r.node)) message = `interrupted: the bot restarted and node ${r.node} is no longer in the inventory`;
    else if (ageMs > maxAgeMs) message = `interrupted: the bot stopped before this triage started, and after restart it was ${Math.round(ageMs / 1000)} s old (triage.requeueMaxAgeSeconds = ${config.triage.requeueMaxAgeSeconds})`;
    if (message === null) continue;
    if (await store.fail(r.id, failureVerdict(new TriageError('interrupted', message)), now, ['queued'])) {
      log.warn({ triageId: r.id, node: r.node, was: r.status }, 'triage marked interrupted after restart');
    }
  }
}
