import { TriageError } from '../errors.js';
import type { Log } from '../log.js';
import type { Completion, Store } from './store.js';

/**
 * When the store's disk is full or read-only, every write fails (SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR…).
 * The service must keep answering, say so clearly (503: try again later), and catch up once the disk is back.
 */

/** Errors that come from the store, its disk or its database server, as opposed to a bug. */
export function isStoreError(err: unknown): boolean {
  if (err instanceof TriageError) return err.code === 'store_unavailable';
  const e = err as { code?: unknown; name?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  return e?.name === 'SqliteError' || code.startsWith('SQLITE_') || ['ENOSPC', 'EROFS', 'EDQUOT', 'EIO', 'EACCES'].includes(code);
}

export function storeUnavailable(what: string, err: unknown): TriageError {
  if (err instanceof TriageError && err.code === 'store_unavailable') return err;
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : 'error';
  return new TriageError('store_unavailable', `the store cannot ${what} (${code}: ${String(e?.message ?? err)}); is its disk full or read-only?`, {
    cause: err,
  });
}

/**
 * Runs a store write; a store failure comes out as TriageError('store_unavailable'), anything else as is.
 */
export async function storeWrite<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isStoreError(err)) throw storeUnavailable(what, err);
    throw err;
  }
}

export const STORE_RETRY_MS = 2000;

/**
 * Stores a finished triage, and when the store cannot be written, tries again every `everyMs` until it can or
 * `signal` aborts (shutdown). The verdict is logged in full at the first failure, so it is not lost even if the
 * store never comes back. Resolves to what `store.complete` said, or false when it gave up.
 */
export async function completeWithRetry(
  store: Store,
  id: string,
  owner: string,
  completion: Completion,
  opts: { log: Log; signal?: AbortSignal; everyMs?: number; onError?: () => void },
): Promise<boolean> {
  const everyMs = opts.everyMs ?? STORE_RETRY_MS;
  let failures = 0;
  for (;;) {
    try {
      if (!store.open) return false;
      const stored = await store.complete(id, owner, completion);
      if (failures > 0) opts.log.info({ triageId: id, attempts: failures + 1 }, 'the store is writable again: triage stored');
      return stored;
    } catch (err) {
      if (!isStoreError(err)) throw err;
      opts.onError?.();
      if (failures === 0) {
        opts.log.error(
          { triageId: id, err: storeUnavailable('store a finished triage', err), verdict: completion.verdict },
          `cannot store the verdict (${completion.verdict.summary}); retrying every ${everyMs / 1000} s`,
        );
      }
      failures++;
    }
    if (opts.signal?.aborted || !(await wait(everyMs, opts.signal))) {
      opts.log.error({ triageId: id, verdict: completion.verdict }, 'gave up storing the verdict at shutdown: it is only in this log');
      return false;
    }
  }
}

/** Resolves true after `ms`, false as soon as `signal` aborts. */
function wait(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
