/**
 * The store contract runs against every store in STORES: each test file calls `describeStores` once and writes
 * its tests against the Store interface only. A kind is set up once per file (e.g. one PostgreSQL cluster) and
 * gives each test fresh, empty stores; every store a test opens is closed after it. For the embedded store,
 * `fresh()` opens a new temp dir and `another()` opens the same dir a second time.
 */
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresStore } from '../../../src/store/postgres/pg-store.js';
import { SqliteStore } from '../../../src/store/sqlite-store.js';
import type { Store } from '../../../src/store/store.js';
import { startPostgres, type Postgres } from '../../support/postgres.js';

export interface StoreFactory {
  /** 'sqlite' or 'postgres'. */
  readonly kind: string;
  /** A new, empty store. */
  fresh(): Promise<Store>;
  /** Another instance on the same store as `store` (another process or replica). */
  another(store: Store): Promise<Store>;
}

interface StoreKind {
  name: string;
  /** Once per file: what the stores need (a database server…). */
  setup(): Promise<{ fresh(): Promise<{ store: Store; another(): Promise<Store> }>; teardown(): Promise<void> }>;
}

const postgres: StoreKind = {
  name: 'postgres',
  async setup() {
    const pg: Postgres = await startPostgres();
    let n = 0;
    return {
      async fresh() {
        const url = await pg.createDatabase(`contract_${++n}`);
        return { store: await PostgresStore.open(url, { poolMax: 4 }), another: () => PostgresStore.open(url, { poolMax: 4 }) };
      },
      teardown: () => pg.close(),
    };
  },
};

const sqlite: StoreKind = {
  name: 'sqlite',
  async setup() {
    const root = mkdtempSync(join(tmpdir(), 'pft-contract-'));
    let n = 0;
    return {
      async fresh() {
        const dir = join(root, `store-${++n}`);
        return { store: SqliteStore.open(dir), another: async () => SqliteStore.open(dir) };
      },
      teardown: async () => rmSync(root, { recursive: true, force: true }),
    };
  },
};

export const STORES: readonly StoreKind[] = [sqlite, postgres];

export function describeStores(title: string, fn: (factory: StoreFactory) => void): void {
  for (const kind of STORES) {
    describe(`${title} (${kind.name})`, () => {
      let env: Awaited<ReturnType<StoreKind['setup']>> | undefined;
      const opened: Store[] = [];
      const again = new Map<Store, () => Promise<Store>>();
      beforeAll(async () => {
        env = await kind.setup();
      });
      afterEach(async () => {
        for (const s of opened.splice(0)) await s.close();
        again.clear();
      });
      afterAll(async () => {
        await env?.teardown();
      });
      const ready = () => {
        if (!env) throw new Error(`the ${kind.name} store was not set up (see beforeAll)`);
        return env;
      };
      fn({
        kind: kind.name,
        async fresh() {
          const { store, another } = await ready().fresh();
          opened.push(store);
          again.set(store, another);
          return store;
        },
        async another(store) {
          const open = again.get(store);
          if (!open) throw new Error('another(): the store was not opened by this factory in this test');
          const s = await open();
          opened.push(s);
          again.set(s, open);
          return s;
        },
      });
    });
  }
}
