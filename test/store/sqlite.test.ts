import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { TriageError } from '../../src/errors.js';
import { failureVerdict } from '../../src/model/failure.js';
import { newTriageId, triageIdPattern } from '../../src/model/ids.js';
import { MIGRATIONS, SqliteStore } from '../../src/store/sqlite-store.js';
import { alertDedupKey, type AdmitStep } from '../../src/store/store.js';
import { tempDir, verdictOf } from '../support/service.js';

/**
 * What only the embedded store has: its file (WAL, reopening, a path it cannot use), its schema upgrades in place
 * from every earlier version, and its query plans. Everything else is the store contract (test/store/contract),
 * run against this store and PostgreSQL alike.
 */

const dirs: (() => void)[] = [];
afterEach(() => dirs.splice(0).forEach((rm) => rm()));
function dir(): string {
  const d = tempDir('pft-sqlite-');
  dirs.push(d.remove);
  return d.path;
}

const trigger = (fingerprint = 'aaaa', startsAt = '2026-11-27T03:12:00Z') => ({
  kind: 'alert' as const,
  alertname: 'NodeMemoryMajorPagesFaults',
  fingerprint,
  startsAt,
  labels: { instance: 'node-1:9100' },
  annotations: {},
});
const alert = (node = 'node-1', fingerprint = 'aaaa', startsAt = '2026-11-27T03:12:00Z'): Extract<AdmitStep, { op: 'alert' }> => ({
  op: 'alert',
  id: newTriageId(),
  node,
  trigger: trigger(fingerprint, startsAt),
  dedupKey: alertDedupKey(fingerprint, startsAt),
  dropped: failureVerdict(new TriageError('queue_full', 'dropped')),
});
const rules = { cooldownMs: 0, maxQueued: 100_000 };
const lease = (owner = 'r1') => ({ owner, untilMs: Date.now() + 60_000 });

/**
 * Records the SQL `store` prepares from now on (its statement cache emptied, so every query is prepared again)
 * until stop(); plan(sql) is SQLite's EXPLAIN QUERY PLAN for it, every parameter bound to 'x'.
 */
function recordSql(store: SqliteStore): { seen: string[]; plan: (sql: string) => string[]; stop: () => void } {
  const db = (store as unknown as { db: Database.Database }).db;
  const prepare = db.prepare.bind(db);
  const seen: string[] = [];
  db.prepare = ((sql: string) => {
    seen.push(sql);
    return prepare(sql);
  }) as typeof db.prepare;
  (store as unknown as { statements: Map<string, unknown> }).statements.clear();
  return {
    seen,
    plan: (sql) => (prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...(sql.match(/\?/g) ?? []).map(() => 'x')) as { detail: string }[]).map((p) => p.detail),
    stop: () => {
      db.prepare = prepare;
    },
  };
}

/** A database at schema `version`, with `seed` run on it, as an older build left it. */
function olderStore(path: string, version: number, seed: (db: Database.Database) => void): void {
  mkdirSync(path, { recursive: true });
  const db = new Database(join(path, 'triages.sqlite'));
  for (const sql of MIGRATIONS.slice(0, version)) db.exec(sql);
  db.pragma(`user_version = ${version}`);
  seed(db);
  db.close();
}

describe('triage ids', () => {
  it('are 128-bit base64url and distinct', () => {
    const ids = new Set(Array.from({ length: 1000 }, newTriageId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(triageIdPattern);
    expect(Buffer.from([...ids][0]!, 'base64url')).toHaveLength(16);
  });
});

describe('the embedded SQLite store', () => {
  it('uses WAL and keeps everything across a reopen', async () => {
    const path = dir();
    const store = SqliteStore.open(path);
    const step = alert();
    await store.admit([step], rules, new Date());
    expect(await store.claimNext(lease(), new Date())).toMatchObject({ id: step.id });
    const verdict = verdictOf('mmap-read', 'mmap reads of /block by pid 4242 (reader)');
    expect(await store.complete(step.id, 'r1', { status: 'done', verdict, finishedAt: new Date(), reportMarkdown: '# report', resultJson: '{"raw":true}' })).toBe(true);
    await store.close();

    const again = SqliteStore.open(path);
    expect(await again.get(step.id)).toMatchObject({ id: step.id, node: 'node-1', status: 'done', verdict, hasReport: true, trigger: step.trigger });
    expect(await again.report(step.id)).toBe('# report');
    expect(await again.result(step.id)).toBe('{"raw":true}');
    await again.close();
    const raw = new Database(join(path, 'triages.sqlite'), { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
  });

  it('says which file it could not open', () => {
    const path = dir();
    writeFileSync(join(path, 'a-file'), '');
    expect(() => SqliteStore.open(join(path, 'a-file', 'data'))).toThrow(`cannot open the store ${path}/a-file/data/triages.sqlite`);
  });

  it('refuses a store written by a newer build, and says so', () => {
    const path = dir();
    olderStore(path, MIGRATIONS.length, (db) => db.pragma(`user_version = ${MIGRATIONS.length + 1}`));
    let err: unknown;
    try {
      SqliteStore.open(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TriageError);
    expect(err).toMatchObject({
      code: 'store_schema_newer',
      retryable: false,
      message: `the store ${path}/triages.sqlite has schema ${MIGRATIONS.length + 1}; this pagefault-triage knows ${MIGRATIONS.length}: upgrade it (or point storage.path elsewhere)`,
    });
  });

  it('health() reads the schema version', async () => {
    const store = SqliteStore.open(dir());
    expect(await store.health()).toEqual({ schemaVersion: MIGRATIONS.length, latestVersion: MIGRATIONS.length });
    await store.close();
  });

  it("finds a resolved alert's triage through an index on node and alert, however long the node's history", async () => {
    const store = SqliteStore.open(dir());
    const cancel = (fp: string) => ({ op: 'cancel' as const, node: 'node-1', fingerprint: fp, verdict: failureVerdict(new TriageError('cancelled', 'x')) });
    const history = Array.from({ length: 300 }, (_, i) => [alert('node-1', `fp${i}`), cancel(`fp${i}`)]).flat();
    await store.admit(history, rules, new Date());
    const wanted = alert('node-1', 'wanted');
    const otherFiring = alert('node-1', 'wanted', '2026-11-28T00:00:00Z');
    await store.admit([wanted, otherFiring], rules, new Date());

    // Record the SQL the lookup runs, then ask SQLite how it runs it.
    const { seen, plan, stop } = recordSql(store);
    expect((await store.latestForAlert('node-1', 'wanted', '2026-11-27T03:12:00Z'))?.id).toBe(wanted.id);
    expect(await store.latestForAlert('node-2', 'wanted', '2026-11-27T03:12:00Z')).toBeUndefined();
    expect((await store.latestForAlert('node-1', 'wanted', '2026-11-28T00:00:00Z'))?.id).toBe(otherFiring.id);
    expect(await store.latestForAlert('node-1', 'nope', '2026-11-27T03:12:00Z')).toBeUndefined();
    stop();
    expect(seen).toHaveLength(1);
    const steps = plan(seen[0]!);
    // One index search on both the node and the alert: no step reads the node's other rows, no temp sort.
    expect(steps, steps.join('; ')).toEqual([expect.stringMatching(/^SEARCH triages USING INDEX \w+ \((node=\? AND dedup_key=\?|dedup_key=\? AND node=\?)\)$/)]);
    await store.close();
  });
});

describe('a resolved alert against a long history', () => {
  it('cancels from the few unfinished triages, never reading the node\'s history', async () => {
    const store = SqliteStore.open(dir());
    const cancel = (fp: string) => ({ op: 'cancel' as const, node: 'node-1', fingerprint: fp, verdict: failureVerdict(new TriageError('cancelled', 'x')) });
    await store.admit(Array.from({ length: 300 }, (_, i) => [alert('node-1', `fp${i}`), cancel(`fp${i}`)]).flat(), rules, new Date());
    const queued = alert('node-1', 'queued');
    await store.admit([queued, alert('node-2', 'other')], rules, new Date());

    const { seen, plan, stop } = recordSql(store);
    const [cancelled] = await store.admit([cancel('queued')], rules, new Date());
    expect(cancelled).toEqual({ op: 'cancel', cancelled: [queued.id] });
    const manual = { op: 'manual' as const, id: newTriageId(), node: 'node-2', trigger: { kind: 'cli' as const }, options: {}, dropped: failureVerdict(new TriageError('queue_full', 'x')) };
    const [asked] = await store.admit([manual], rules, new Date());
    expect(asked).toMatchObject({ op: 'manual', status: 'duplicate' });
    stop();
    const lookups = seen.filter((q) => /^SELECT .* FROM triages WHERE \+?node = \?/.test(q));
    expect(lookups, seen.join('\n')).toHaveLength(2);
    for (const q of lookups) {
      const steps = plan(q);
      // The partial index of queued and running triages: as many rows as the queue, whatever the history.
      expect(steps[0], steps.join('; ')).toBe('SEARCH triages USING INDEX triages_unfinished (status=?)');
    }
    await store.close();
  });
});

describe('upgrades in place', () => {
  const old = trigger('old');
  it('from schema 1: keeps its triages, which then take Slack state and a lease', async () => {
    const path = dir();
    olderStore(path, 1, (db) =>
      db
        .prepare(`INSERT INTO triages (id, node, trigger_kind, trigger_json, dedup_key, status, created_at, created_ms) VALUES ('old-triage-000000000000', 'node-1', 'alert', ?, 'old|2026-11-27T03:12:00Z', 'queued', ?, ?)`)
        .run(JSON.stringify(old), new Date().toISOString(), Date.now()),
    );
    const store = SqliteStore.open(path);
    expect(await store.get('old-triage-000000000000')).toMatchObject({ node: 'node-1', status: 'queued', slack: null });
    await store.outbox.setMessage('old-triage-000000000000', 'C1', '1.2');
    await store.outbox.setState('old-triage-000000000000', 'sent', null);
    expect((await store.get('old-triage-000000000000'))!.slack).toEqual({ state: 'sent', error: null, channel: 'C1', ts: '1.2' });
    expect((await store.latestForAlert('node-1', 'old', '2026-11-27T03:12:00Z'))?.id).toBe('old-triage-000000000000');
    expect(await store.claimNext(lease(), new Date())).toMatchObject({ id: 'old-triage-000000000000', status: 'running' });
    expect(await store.runs('old-triage-000000000000')).toBe(1);
    await store.close();
    const again = new Database(join(path, 'triages.sqlite'));
    expect(again.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    again.close();
  });

  it('from schema 2: keeps its pending outbox rows, which a replica can then claim', async () => {
    const path = dir();
    olderStore(path, 2, (db) =>
      db.prepare(`INSERT INTO slack_outbox (triage_id, purpose, call_json, state, created_ms, next_ms) VALUES (NULL, 'respond', '{}', 'pending', 1, 1)`).run(),
    );
    const store = SqliteStore.open(path);
    expect(await store.outbox.claimDue(2, 'r1', 30_000)).toMatchObject({ purpose: 'respond', state: 'pending', unsureMs: null });
    expect(await store.deliveries.claim('trigger:1', 5)).toBe(true);
    await store.close();
  });

  it('from schema 5: a running triage of the last build has no lease, so it counts as expired and is taken over', async () => {
    const path = dir();
    olderStore(path, 5, (db) =>
      db
        .prepare(`INSERT INTO triages (id, node, trigger_kind, trigger_json, dedup_key, status, created_at, created_ms, started_at) VALUES ('was-running-00000000000', 'node-1', 'alert', ?, 'old|x', 'running', ?, ?, ?)`)
        .run(JSON.stringify(old), new Date().toISOString(), Date.now(), new Date().toISOString()),
    );
    const store = SqliteStore.open(path);
    expect((await store.expiredLeases(Date.now())).map((r) => r.id)).toEqual(['was-running-00000000000']);
    expect(await store.requeueExpired('was-running-00000000000', Date.now())).toBe(true);
    expect(await store.get('was-running-00000000000')).toMatchObject({ status: 'queued', startedAt: null });
    await store.close();
  });
});
