import type { Config } from '../config/schema.js';
import type { Log } from '../log.js';
import { SqliteStore } from './sqlite-store.js';
import type { Store } from './store.js';

/** `storage.url` (PostgreSQL, shared by replicas) when set, else the embedded SQLite file under `storage.path`. */
export async function openStore(storage: Config['storage'], log?: Log): Promise<Store> {
  if (storage.url !== undefined) {
    // Loaded only when used: a single process on SQLite never loads the PostgreSQL client.
    const { PostgresStore } = await import('./postgres/pg-store.js');
    return PostgresStore.open(storage.url, log ? { log } : {});
  }
  return SqliteStore.open(storage.path);
}
