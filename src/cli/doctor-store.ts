import type { Config } from '../config/schema.js';
import { asTriageError } from '../errors.js';
import { openStore } from '../store/open.js';

/** The store as `doctor` sees it. */
export interface StoreCheck {
  ok: boolean;
  detail: string;
}

/**
 * `doctor`'s store part: opens the store as `serve` would (so a store still on an older schema is brought up to
 * date, under the same lock), then reads its schema version. Unreachable, or written by a newer build: not ok.
 */
export async function checkStore(storage: Config['storage']): Promise<StoreCheck> {
  try {
    const store = await openStore(storage);
    try {
      const h = await store.health();
      return { ok: true, detail: `ok: ${store.kind} ${store.location}, schema ${h.schemaVersion} (this build knows ${h.latestVersion})` };
    } finally {
      await store.close();
    }
  } catch (err) {
    const e = asTriageError(err);
    return { ok: false, detail: `${e.code}: ${e.message}` };
  }
}

export function formatStoreCheck(check: StoreCheck): string {
  return `store: ${check.detail}\n`;
}
