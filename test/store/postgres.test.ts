/**
 * What only the shared store has to get right: several replicas (PostgresStore instances) on one database,
 * racing for the same notification, the same queued triages, the same expired lease and the same Slack call;
 * migrations run once when replicas start together; and the database going away and coming back.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TriageError } from '../../src/errors.js';
import { PostgresStore } from '../../src/store/postgres/pg-store.js';
import { PG_SCHEMA_VERSION } from '../../src/store/postgres/pg-schema.js';
import { isUnavailable } from '../../src/store/postgres/pg-errors.js';
import type { Log } from '../../src/log.js';
import { startPostgres, type Postgres } from '../support/postgres.js';
import { RULES, T0, alertStep, at, completion, queue } from './contract/steps.js';

let cluster: Postgres;
let n = 0;
const opened: PostgresStore[] = [];
const pools: pg.Pool[] = [];

beforeAll(async () => {
  cluster = await startPostgres();
});
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  for (const p of pools.splice(0)) await p.end();
});
afterAll(async () => {
  await cluster?.close();
});

async function database(): Promise<string> {
  return cluster.createDatabase(`replicas_${++n}`);
}
async function open(url: string, opts: { log?: Log; poolMax?: number } = {}): Promise<PostgresStore> {
  const s = await PostgresStore.open(url, { poolMax: 8, ...opts });
  opened.push(s);
  return s;
}
/** Two replicas on one fresh database. */
async function replicas(): Promise<[PostgresStore, PostgresStore, string]> {
  const url = await database();
  return [await open(url, { poolMax: 8 }), await open(url, { poolMax: 8 }), url];
}
function raw(url: string): pg.Pool {
  const p = new pg.Pool({ connectionString: url, max: 2 });
  pools.push(p);
  return p;
}

describe('PostgresStore: two replicas on one database', () => {
  it('queues one triage when both admit the same notification 20 times at once', async () => {
    const [a, b, url] = await replicas();
    const first = alertStep();
    const steps = Array.from({ length: 40 }, () => ({ ...alertStep(), trigger: first.trigger, dedupKey: first.dedupKey }));
    const results = (await Promise.all(steps.map((s, i) => (i % 2 === 0 ? a : b).admit([s], RULES, at(i))))).flat();
    const queued = results.filter((r) => r.op === 'alert' && r.status === 'queued');
    expect(queued).toHaveLength(1);
    const winner = (queued[0] as { id: string }).id;
    expect(results.filter((r) => r.op === 'alert' && r.status === 'duplicate' && r.id === winner)).toHaveLength(39);
    const count = await raw(url).query<{ n: string }>('SELECT COUNT(*) AS n FROM triages');
    expect(count.rows[0]!.n).toBe('1');
  });

  it('keeps the queue limit over both replicas when they admit to different nodes at once', async () => {
    const [a, b] = await replicas();
    const rules = { cooldownMs: 0, maxQueued: 5 };
    const steps = Array.from({ length: 20 }, (_, i) => alertStep({ node: `node-${i}`, fingerprint: `fp-${i}` }));
    const results = (await Promise.all(steps.map((s, i) => (i % 2 === 0 ? a : b).admit([s], rules, at(i))))).flat();
    expect(results.filter((r) => r.op === 'alert' && r.status === 'queued')).toHaveLength(5);
    expect(results.filter((r) => r.op === 'alert' && r.status === 'dropped')).toHaveLength(15);
    expect(await a.queuedCount()).toBe(5);
  });

  it('claims 30 triages over 10 nodes from both, each once, never two running on one node', async () => {
    const [a, b, url] = await replicas();
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(await queue(a, `node-${i % 10}`, at(i)));
    const check = raw(url);
    const claimed: string[] = [];
    let spins = 0;
    // Three workers per replica, each claiming, checking and completing until every triage is done.
    const worker = async (store: PostgresStore, owner: string): Promise<void> => {
      while (claimed.length < 30) {
        if (++spins > 20_000) throw new Error(`only ${claimed.length} of 30 triages were claimed`);
        const t = await store.claimNext({ owner, untilMs: T0 + 3_600_000 }, at(100));
        if (!t) {
          await new Promise((r) => setImmediate(r));
          continue;
        }
        claimed.push(t.id);
        const doubled = await check.query(`SELECT node, COUNT(*) FROM triages WHERE status = 'running' GROUP BY node HAVING COUNT(*) > 1`);
        expect(doubled.rows).toEqual([]);
        expect(await store.complete(t.id, owner, completion())).toBe(true);
      }
    };
    await Promise.all([a, a, a, b, b, b].map((s, i) => worker(s, `replica-${i < 3 ? 'a' : 'b'}-${i}`)));
    expect([...claimed].sort()).toEqual([...ids].sort());
    const runs = await check.query<{ runs: number; status: string }>('SELECT runs, status FROM triages');
    expect(runs.rows.every((r) => r.runs === 1 && r.status === 'done')).toBe(true);
  });

  it('retries a claim that lost a node to another replica at the same moment, and never surfaces it', async () => {
    const url = await database();
    const store = await open(url);
    const x = await queue(store, 'node-1', at(0));
    const y = await queue(store, 'node-1', at(1));
    const z = await queue(store, 'node-2', at(2));
    // Another replica has started x but not committed yet: our claim skips x (locked), still sees node-1 free,
    // takes y, and waits on the one-running-per-node index until that replica commits.
    const other = await raw(url).connect();
    try {
      await other.query('BEGIN');
      await other.query(`UPDATE triages SET status = 'running', lease_owner = 'replica-b', lease_until_ms = $2 WHERE id = $1`, [x, T0 + 60_000]);
      const claim = store.claimNext({ owner: 'replica-a', untilMs: T0 + 60_000 }, at(10));
      const watcher = raw(url);
      for (let i = 0; ; i++) {
        const waiting = await watcher.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE triages SET status = ''running''%'`);
        if (waiting.rows.length > 0) break;
        if (i > 10_000) throw new Error('the claim never waited on the other replica');
        await new Promise((r) => setImmediate(r));
      }
      await other.query('COMMIT');
      expect((await claim)?.id).toBe(z);
    } finally {
      other.release();
    }
    expect((await store.get(y))!.status).toBe('queued');
    expect(await store.runs(y)).toBe(0);
  });

  it('requeues an expired lease by exactly one of two sweepers', async () => {
    const [a, b] = await replicas();
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      await queue(a, `node-${i}`, at(i));
      ids.push((await a.claimNext({ owner: 'replica-gone', untilMs: T0 + 1000 }, at(10)))!.id);
    }
    const sweep = async (store: PostgresStore) => {
      const won: string[] = [];
      for (const t of await store.expiredLeases(T0 + 2000)) if (await store.requeueExpired(t.id, T0 + 2000)) won.push(t.id);
      return won;
    };
    const [wonA, wonB] = await Promise.all([sweep(a), sweep(b)]);
    expect([...wonA, ...wonB].sort()).toEqual([...ids].sort());
    expect((await a.unfinished()).every((t) => t.status === 'queued')).toBe(true);
  });

  it('gives a Slack call to exactly one of two replicas claiming at once', async () => {
    const [a, b] = await replicas();
    const seqs: number[] = [];
    for (let i = 0; i < 10; i++) {
      const id = await queue(a, `node-${i}`);
      seqs.push((await a.outbox.enqueue({ triageId: id, purpose: 'start', callJson: '{}', atMs: 1000 }))!);
    }
    const got: number[] = [];
    const claimer = async (store: PostgresStore, owner: string) => {
      for (let i = 0; i < 15; i++) {
        const row = await store.outbox.claimDue(2000, owner, 60_000);
        if (row) got.push(row.seq);
      }
    };
    await Promise.all([claimer(a, 'a1'), claimer(a, 'a2'), claimer(b, 'b1'), claimer(b, 'b2')]);
    expect([...got].sort((x, y) => x - y)).toEqual(seqs);
  });

  it('migrates once when two replicas open a fresh database at the same time', async () => {
    const url = await database();
    const [a, b] = await Promise.all([open(url), open(url)]);
    expect(await a.health()).toEqual({ schemaVersion: PG_SCHEMA_VERSION, latestVersion: PG_SCHEMA_VERSION });
    expect(await b.health()).toEqual({ schemaVersion: PG_SCHEMA_VERSION, latestVersion: PG_SCHEMA_VERSION });
    const versions = await raw(url).query<{ version: number }>('SELECT version FROM pft_schema_version ORDER BY version');
    expect(versions.rows.map((r) => r.version)).toEqual(Array.from({ length: PG_SCHEMA_VERSION }, (_, i) => i + 1));
  });
});

describe('PostgresStore: the database', () => {
  it('refuses a database a newer build has written, saying what to do', async () => {
    const url = await database();
    const store = await open(url);
    await raw(url).query('INSERT INTO pft_schema_version (version) VALUES ($1)', [PG_SCHEMA_VERSION + 1]);
    const message = `the store at ${store.location} has schema ${PG_SCHEMA_VERSION + 1}; this pagefault-triage knows ${PG_SCHEMA_VERSION}: upgrade it (or point storage.url elsewhere)`;
    const err = await PostgresStore.open(url).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TriageError);
    expect(err).toMatchObject({ code: 'store_schema_newer', retryable: false, message });
    await expect(store.health()).rejects.toMatchObject({ code: 'store_schema_newer', message });
  });

  it('says plainly when the database refuses to hold the store (no right to create its tables)', async () => {
    const url = await database();
    const admin = raw(url);
    // Since PostgreSQL 15 only the database owner may create tables in schema public.
    await admin.query('CREATE ROLE visitor LOGIN');
    await admin.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
    const asVisitor = url.replace(`${cluster.user}@`, 'visitor@');
    const err = await PostgresStore.open(asVisitor).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TriageError);
    expect(err).toMatchObject({
      code: 'store_unavailable',
      retryable: false,
      message: expect.stringMatching(/^opening the store failed: the database at postgres:\/\/visitor@.* refused it \(42501: permission denied for schema public\)$/),
    });
  });

  it('shows its URL without the password and reports its schema', async () => {
    const url = await database();
    // Trust auth ignores the password: it is only here to be hidden.
    const withPassword = url.replace(`${cluster.user}@`, `${cluster.user}:s3cret-pw@`);
    const store = await open(withPassword);
    expect(store.kind).toBe('postgres');
    expect(store.location).toBe(url);
    expect(store.location).not.toContain('s3cret-pw');
    expect(await store.health()).toEqual({ schemaVersion: PG_SCHEMA_VERSION, latestVersion: PG_SCHEMA_VERSION });
  });

  it('throws a bug (an unexpected constraint violation) as it is, not as an outage', async () => {
    const store = await open(await database());
    const step = alertStep();
    await store.admit([step], RULES, at(0));
    const clash = { ...alertStep({ fingerprint: 'other' }), id: step.id };
    const err = await store.admit([clash], RULES, at(1)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).not.toBeInstanceOf(TriageError);
    expect(err).toMatchObject({ code: '23505' });
  });

  it('throws store_unavailable while the database is down, and works again once it is back', async () => {
    const url = await database();
    const warnings: unknown[] = [];
    const log = { debug() {}, info() {}, error() {}, warn: (obj: unknown) => void warnings.push(obj) } as unknown as Log;
    const store = await open(url, { log });
    const before = await queue(store, 'node-1');
    // Keep idle connections in the pool, so the outage cuts them.
    await Promise.all([store.get(before), store.get(before), store.outbox.pendingCount()]);
    await cluster.stop();
    try {
      const unavailable = { code: 'store_unavailable', retryable: true, message: expect.stringMatching(new RegExp(`failed: the database at ${store.location.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is unreachable \\(`)) };
      await expect(store.get(before)).rejects.toMatchObject(unavailable);
      await expect(store.admit([alertStep({ fingerprint: 'during' })], RULES, at(1))).rejects.toMatchObject(unavailable);
      await expect(store.claimNext({ owner: 'a', untilMs: T0 + 1000 }, at(2))).rejects.toMatchObject(unavailable);
      await expect(store.outbox.enqueue({ triageId: before, purpose: 'start', callJson: '{}', atMs: 1 })).rejects.toMatchObject(unavailable);
      await expect(store.deliveries.claim('k', 1)).rejects.toMatchObject(unavailable);
      await expect(store.health()).rejects.toMatchObject(unavailable);
      await expect(PostgresStore.open(url)).rejects.toMatchObject({ code: 'store_unavailable', message: expect.stringContaining('opening the store failed') });
    } finally {
      await cluster.start();
    }
    expect(store.open).toBe(true);
    expect((await store.get(before))?.id).toBe(before);
    expect((await store.admit([alertStep({ fingerprint: 'after' })], RULES, at(3)))[0]).toMatchObject({ status: 'queued' });
    expect((await store.claimNext({ owner: 'a', untilMs: T0 + 1000 }, at(4)))?.id).toBe(before);
    expect(warnings.length).toBeGreaterThan(0); // the cut idle connections were logged, not thrown
  });

  it('makes a connection the server terminates (57P01) an outage for that call only', async () => {
    const url = await database();
    const store = await open(url);
    // Another admission holds node-1: ours waits on the node's advisory lock, where the server cuts it off.
    const holder = await raw(url).connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT pg_advisory_xact_lock(hashtext('pft-node:' || $1))`, ['node-1']);
      const admitting = store.admit([alertStep({ fingerprint: 'cut' })], RULES, at(0)).then(
        () => null,
        (e: unknown) => e,
      );
      const watcher = raw(url);
      let pid: number | undefined;
      for (let i = 0; pid === undefined; i++) {
        const r = await watcher.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE wait_event = 'advisory'`);
        pid = r.rows[0]?.pid;
        if (i > 10_000) throw new Error('the admission never waited on the node lock');
        if (pid === undefined) await new Promise((r) => setImmediate(r));
      }
      await watcher.query('SELECT pg_terminate_backend($1)', [pid]);
      const err = await admitting;
      expect(err).toBeInstanceOf(TriageError);
      expect(err).toMatchObject({ code: 'store_unavailable', message: expect.stringContaining('admitting triages failed: the database at') });
      expect(((err as TriageError).cause as { code?: string }).code).toBe('57P01');
      await holder.query('COMMIT');
    } finally {
      holder.release();
    }
    expect((await store.admit([alertStep({ fingerprint: 'next' })], RULES, at(1)))[0]).toMatchObject({ status: 'queued' });
    // A statement the server rejects as wrong is a bug, not an outage.
    const syntax = await raw(url).query('SELEC 1').then(
      () => null,
      (e: unknown) => e,
    );
    expect(syntax).toMatchObject({ code: '42601' });
    expect(isUnavailable(syntax)).toBe(false);
  });

  it('is closed after close()', async () => {
    const store = await PostgresStore.open(await database());
    expect(store.open).toBe(true);
    await store.close();
    expect(store.open).toBe(false);
    await store.close();
    // A call racing shutdown is an outage to its caller (retry loops give up on `open`), not a crash.
    await expect(store.get('any')).rejects.toMatchObject({ code: 'store_unavailable' });
    await expect(store.admit([alertStep()], RULES, at(0))).rejects.toMatchObject({ code: 'store_unavailable' });
  });
});
