import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { TriageError } from '../../src/errors.js';
import { failureVerdict } from '../../src/model/failure.js';
import { newTriageId, triageIdPattern } from '../../src/model/ids.js';
import { MIGRATIONS, TriageStore, type NewTriage } from '../../src/store/triage-store.js';
import { tempDir, verdictOf } from '../support/service.js';

const alertTrigger = (fingerprint = 'aaaa', startsAt = '2026-11-27T03:12:00Z') => ({
  kind: 'alert' as const,
  alertname: 'NodeMemoryMajorPagesFaults',
  fingerprint,
  startsAt,
  labels: { instance: 'node-1:9100' },
  annotations: {},
});

const row = (over: Partial<NewTriage> = {}): NewTriage => {
  const trigger = alertTrigger();
  return { id: newTriageId(), node: 'node-1', trigger, dedupKey: `${trigger.fingerprint}|${trigger.startsAt}`, createdAt: new Date(), ...over };
};

const dirs: (() => void)[] = [];
afterEach(() => dirs.splice(0).forEach((rm) => rm()));
function openStore() {
  const d = tempDir('pft-store-');
  dirs.push(d.remove);
  return { dir: d.path, store: TriageStore.open(d.path) };
}

describe('triage ids', () => {
  it('are 128-bit base64url and distinct', () => {
    const ids = new Set(Array.from({ length: 1000 }, newTriageId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(triageIdPattern);
    expect(Buffer.from([...ids][0]!, 'base64url')).toHaveLength(16);
  });
});

describe('TriageStore', () => {
  it('uses WAL and keeps everything across a reopen', () => {
    const { dir, store } = openStore();
    const t = row();
    store.insertQueued(t);
    expect(store.markRunning(t.id, new Date())).toBe(true);
    const verdict = verdictOf('mmap-read', 'mmap reads of /block by pid 4242 (reader)');
    expect(store.complete(t.id, { status: 'done', verdict, finishedAt: new Date(), reportMarkdown: '# report', resultJson: '{"raw":true}' })).toBe(true);
    store.close();

    const again = TriageStore.open(dir);
    const got = again.get(t.id)!;
    expect(got).toMatchObject({ id: t.id, node: 'node-1', status: 'done', verdict, hasReport: true, trigger: t.trigger });
    expect(got.startedAt).not.toBeNull();
    expect(again.report(t.id)).toBe('# report');
    expect(again.result(t.id)).toBe('{"raw":true}');
    again.close();
    const raw = new Database(`${dir}/triages.sqlite`, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
  });

  it('only moves along queued → running → done/failed', () => {
    const { store } = openStore();
    const t = row();
    store.insertQueued(t);
    expect(store.complete(t.id, { status: 'done', verdict: verdictOf('quiet', 'q'), finishedAt: new Date(), reportMarkdown: null, resultJson: '{}' })).toBe(false);
    expect(store.markRunning(t.id, new Date())).toBe(true);
    expect(store.markRunning(t.id, new Date())).toBe(false);
    expect(store.fail(t.id, failureVerdict(new TriageError('interrupted', 'interrupted')), new Date(), ['running'])).toBe(true);
    // A run that comes back after being marked interrupted does not overwrite it.
    expect(store.complete(t.id, { status: 'done', verdict: verdictOf('quiet', 'q'), finishedAt: new Date(), reportMarkdown: null, resultJson: '{}' })).toBe(false);
    expect(store.get(t.id)!.verdict!.failure!.code).toBe('interrupted');
    store.close();
  });

  it('lists newest first, by node, with a limit', () => {
    const { store } = openStore();
    const ids = ['node-1', 'node-2', 'node-1', 'node-1'].map((node) => {
      const t = row({ node, dedupKey: null });
      store.insertQueued(t);
      return t.id;
    });
    expect(store.list({ limit: 10 }).map((t) => t.id)).toEqual([...ids].reverse());
    expect(store.list({ node: 'node-1', limit: 2 }).map((t) => t.id)).toEqual([ids[3], ids[2]]);
    expect(store.list({ node: 'nope', limit: 2 })).toEqual([]);
    store.close();
  });

  it("finds a resolved alert's triage through an index on node and alert, however long the node's history", () => {
    const { store } = openStore();
    store.transaction(() => {
      for (let i = 0; i < 300; i++) store.insertFailed(row({ trigger: alertTrigger(`fp${i}`), dedupKey: `fp${i}|2026-11-27T03:12:00Z` }), failureVerdict(new TriageError('cancelled', 'x')));
    });
    const older = row({ trigger: alertTrigger('wanted'), dedupKey: 'wanted|2026-11-27T03:12:00Z' });
    const newer = row({ trigger: alertTrigger('wanted'), dedupKey: 'wanted|2026-11-27T03:12:00Z' });
    const otherFiring = row({ trigger: alertTrigger('wanted', '2026-11-28T00:00:00Z'), dedupKey: 'wanted|2026-11-28T00:00:00Z' });
    const otherNode = row({ node: 'node-2', trigger: alertTrigger('wanted'), dedupKey: 'wanted|2026-11-27T03:12:00Z' });
    for (const t of [older, newer, otherFiring, otherNode]) store.insertQueued(t);
    store.insertQueued(row({ trigger: { kind: 'cli' }, dedupKey: null }));

    // Record the SQL the lookup runs, then ask SQLite how it runs it.
    const db = (store as unknown as { db: Database.Database }).db;
    const prepare = db.prepare.bind(db);
    const seen: string[] = [];
    db.prepare = ((sql: string) => {
      seen.push(sql);
      return prepare(sql);
    }) as typeof db.prepare;
    expect(store.latestForAlert('node-1', 'wanted', '2026-11-27T03:12:00Z')?.id).toBe(newer.id);
    expect(store.latestForAlert('node-2', 'wanted', '2026-11-27T03:12:00Z')?.id).toBe(otherNode.id);
    expect(store.latestForAlert('node-1', 'wanted', '2026-11-28T00:00:00Z')?.id).toBe(otherFiring.id);
    expect(store.latestForAlert('node-1', 'nope', '2026-11-27T03:12:00Z')).toBeUndefined();
    db.prepare = prepare;
    expect(seen).toHaveLength(1);
    const plan = (prepare(`EXPLAIN QUERY PLAN ${seen[0]}`).all(...(seen[0]!.match(/\?/g) ?? []).map(() => 'x')) as { detail: string }[]).map((p) => p.detail);
    // One index search on both the node and the alert: no step reads the node's other rows, no temp sort.
    expect(plan, plan.join('; ')).toEqual([expect.stringMatching(/^SEARCH triages USING INDEX \w+ \((node=\? AND dedup_key=\?|dedup_key=\? AND node=\?)\)$/)]);
    store.close();
  });

  it('brings a store written before the alert index up to date, and finds its old triages', () => {
    const d = tempDir('pft-store-');
    dirs.push(d.remove);
    const db = new Database(`${d.path}/triages.sqlite`);
    for (const sql of MIGRATIONS.slice(0, 2)) db.exec(sql);
    db.pragma('user_version = 2');
    const t = row({ trigger: alertTrigger('old'), dedupKey: 'old|2026-11-27T03:12:00Z' });
    db.prepare(`INSERT INTO triages (id, node, trigger_kind, trigger_json, dedup_key, status, created_at, created_ms) VALUES (?, ?, 'alert', ?, ?, 'queued', ?, ?)`).run(
      t.id, t.node, JSON.stringify(t.trigger), t.dedupKey, t.createdAt.toISOString(), t.createdAt.getTime(),
    );
    db.close();
    const store = TriageStore.open(d.path);
    expect(store.latestForAlert('node-1', 'old', '2026-11-27T03:12:00Z')?.id).toBe(t.id);
    store.close();
  });

  it('dedups on the key, except triages that never ran (interrupted, dropped)', () => {
    const { store } = openStore();
    const t = row();
    store.insertQueued(t);
    expect(store.findByDedupKey(t.dedupKey!)?.id).toBe(t.id);
    store.fail(t.id, failureVerdict(new TriageError('interrupted', 'x')), new Date(), ['queued']);
    expect(store.findByDedupKey(t.dedupKey!)).toBeUndefined();
    const dropped = row();
    store.insertFailed(dropped, failureVerdict(new TriageError('queue_full', 'dropped')));
    expect(store.findByDedupKey(dropped.dedupKey!)).toBeUndefined();
    expect(store.get(dropped.id)).toMatchObject({ status: 'failed', verdict: { failure: { code: 'queue_full' } } });
    store.close();
  });

  it('finds the last automatic triage of a node for cooldown, ignoring manual and cancelled ones', () => {
    const { store } = openStore();
    const since = new Date(Date.now() - 60_000);
    store.insertQueued(row({ trigger: { kind: 'cli' }, dedupKey: null }));
    expect(store.lastAutomatic('node-1', since)).toBeUndefined();
    const t = row();
    store.insertQueued(t);
    expect(store.lastAutomatic('node-1', since)?.id).toBe(t.id);
    expect(store.lastAutomatic('node-2', since)).toBeUndefined();
    expect(store.lastAutomatic('node-1', new Date(Date.now() + 1000))).toBeUndefined();
    store.fail(t.id, failureVerdict(new TriageError('cancelled', 'resolved')), new Date(), ['queued']);
    expect(store.lastAutomatic('node-1', since)).toBeUndefined();
    store.close();
  });

  it('lists unfinished triages oldest first and prunes old finished ones', () => {
    const { store } = openStore();
    const old = row({ createdAt: new Date(Date.now() - 40 * 86400_000), dedupKey: null });
    const a = row({ dedupKey: null });
    const b = row({ dedupKey: null });
    for (const t of [old, a, b]) store.insertQueued(t);
    store.markRunning(b.id, new Date());
    expect(store.unfinished().map((t) => [t.id, t.status])).toEqual([[old.id, 'queued'], [a.id, 'queued'], [b.id, 'running']]);
    expect(store.prune(new Date(Date.now() - 30 * 86400_000))).toBe(0); // unfinished ones stay
    store.fail(old.id, failureVerdict(new TriageError('interrupted', 'x')), new Date(), ['queued']);
    expect(store.prune(new Date(Date.now() - 30 * 86400_000))).toBe(1);
    expect(store.get(old.id)).toBeUndefined();
    store.close();
  });

  it('says which file it could not open', () => {
    const d = tempDir('pft-store-');
    dirs.push(d.remove);
    writeFileSync(`${d.path}/a-file`, '');
    expect(() => TriageStore.open(`${d.path}/a-file/data`)).toThrow(`cannot open the store ${d.path}/a-file/data/triages.sqlite`);
  });
});
