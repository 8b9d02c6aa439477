/** Vitest set-up shared by the replica test files (kept apart from replicas.ts, which the benchmarks import too). */
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { BotProcess } from './bot-process.js';
import { startPostgres, type Postgres } from './postgres.js';
import { stopReplicas } from './replicas.js';

/**
 * For a replica test file: one PostgreSQL cluster for the file, a fresh database per call of `database()`, and
 * every replica and cleanup registered during a test stopped after it.
 */
export function replicaTestFile(prefix: string): {
  pg: () => Postgres;
  database: () => Promise<string>;
  bots: BotProcess[];
  cleanups: (() => Promise<void> | void)[];
} {
  let pg: Postgres | undefined;
  let dbs = 0;
  const bots: BotProcess[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];
  beforeAll(async () => {
    pg = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await pg?.close();
  });
  afterEach(async () => {
    await stopReplicas(bots.splice(0));
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const cluster = (): Postgres => {
    if (!pg) throw new Error('PostgreSQL was not started (see beforeAll)');
    return pg;
  };
  return { pg: cluster, database: () => cluster().createDatabase(`${prefix}_${++dbs}`), bots, cleanups };
}
