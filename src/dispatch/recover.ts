import { findNode } from '../config/inventory.js';
import type { Config } from '../config/schema.js';
import { TriageError } from '../errors.js';
import type { Log } from '../log.js';
import { failureVerdict } from '../model/failure.js';
import type { TriageStore } from '../store/triage-store.js';
import type { Dispatcher, Job } from './dispatcher.js';

/**
 * Triages a previous process left unfinished: running ones are marked interrupted (their node was
 * left mid-playbook, and the playbook's own timeouts clean up there); queued ones never started, so
 * they run now if still recent (the alert was answered 202, so Alertmanager will not resend it),
 * and are marked interrupted when older than triage.requeueMaxAgeSeconds.
 */
export function recover(config: Config, store: TriageStore, dispatcher: Dispatcher, log: Log, now: Date): void {
  const maxAgeMs = config.triage.requeueMaxAgeSeconds * 1000;
  const resumed: Job[] = [];
  store.transaction(() => {
    for (const r of store.unfinished()) {
      const node = findNode(config.nodes, r.node);
      const ageMs = now.getTime() - Date.parse(r.createdAt);
      let message: string | null = null;
      if (r.status === 'running') message = 'interrupted: the bot stopped while this triage was running';
      else if (!node) message = `interrupted: the bot restarted and node ${r.node} is no longer in the inventory`;
      else if (ageMs > maxAgeMs) message = `interrupted: the bot stopped before this triage started, and after restart it was ${Math.round(ageMs / 1000)} s old (triage.requeueMaxAgeSeconds = ${config.triage.requeueMaxAgeSeconds})`;
      if (message !== null || !node) {
        store.fail(r.id, failureVerdict(new TriageError('interrupted', message ?? 'interrupted')), now, ['queued', 'running']);
        log.warn({ triageId: r.id, node: r.node, was: r.status }, 'triage marked interrupted after restart');
      } else {
        resumed.push({ id: r.id, node, trigger: r.trigger, options: r.options, createdAt: r.createdAt });
      }
    }
  });
  for (const job of resumed) dispatcher.resume(job);
}
