import type { Log } from '../log.js';
import { isStoreError } from './store-errors.js';
import type { Store } from './store.js';

/**
 * Retention: finished triages older than storage.retentionDays are deleted, with their reports and evidence (one
 * row holds all three), at start and then every `everyMs`. Queued and running triages are never deleted. A failed
 * cleanup (store read-only, disk full) is logged and tried again at the next tick; it never takes the service down.
 */

export const PRUNE_EVERY_MS = 3600 * 1000;

export interface Retention {
  /** Deletes what is due now; returns how many triages went (0 when the store could not be written). */
  runOnce(): Promise<number>;
  stop(): void;
}

export function startRetention(opts: {
  store: Store;
  retentionDays: number;
  log: Log;
  now: () => Date;
  everyMs?: number;
}): Retention {
  const { store, retentionDays, log, now } = opts;
  const runOnce = async (): Promise<number> => {
    if (!store.open) return 0;
    const before = new Date(now().getTime() - retentionDays * 86400 * 1000);
    try {
      const removed = await store.prune(before);
      if (removed > 0) log.info({ removed, retentionDays, before: before.toISOString() }, 'old triages and their reports deleted');
      return removed;
    } catch (err) {
      if (!isStoreError(err)) throw err;
      log.error({ err, retentionDays }, 'retention cleanup failed; trying again at the next run');
      return 0;
    }
  };
  const tick = () => runOnce().catch((err: unknown) => log.error({ err }, 'retention cleanup crashed'));
  void tick();
  const timer = setInterval(tick, opts.everyMs ?? PRUNE_EVERY_MS).unref();
  return { runOnce, stop: () => clearInterval(timer) };
}
