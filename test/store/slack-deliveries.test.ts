import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { newTriageId } from '../../src/model/ids.js';
import { MIGRATIONS, TriageStore } from '../../src/store/triage-store.js';
import { tempDir } from '../support/service.js';

const dirs: (() => void)[] = [];
afterEach(() => dirs.splice(0).forEach((rm) => rm()));
function dir() {
  const d = tempDir('pft-deliveries-');
  dirs.push(d.remove);
  return d.path;
}

const trigger = { kind: 'alert' as const, alertname: 'NodeMemoryMajorPagesFaults', fingerprint: 'ffff', startsAt: '2026-11-27T03:12:00Z', labels: {}, annotations: {} };

describe('store migration 3 (Slack exactly once)', () => {
  it('upgrades a schema-2 store in place, keeping its pending outbox rows', () => {
    const path = dir();
    mkdirSync(path, { recursive: true });
    const db = new Database(join(path, 'triages.sqlite'));
    db.exec(MIGRATIONS[0]!);
    db.exec(MIGRATIONS[1]!);
    db.pragma('user_version = 2');
    db.prepare(`INSERT INTO slack_outbox (triage_id, purpose, call_json, state, created_ms, next_ms) VALUES (NULL, 'respond', '{}', 'pending', 1, 1)`).run();
    db.close();

    const store = TriageStore.open(path);
    expect(store.outbox.nextDue(2)).toMatchObject({ purpose: 'respond', state: 'pending', unsureMs: null });
    expect(store.deliveries.claim('trigger:1', 5)).toBe(true);
    store.close();
    const again = new Database(join(path, 'triages.sqlite'));
    expect(again.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    again.close();
  });
});

describe('SlackDeliveries', () => {
  it('claims a key once; a repeat reads the answer kept the first time, also from another process on the same store', () => {
    const path = dir();
    const a = TriageStore.open(path);
    const b = TriageStore.open(path);
    expect(a.deliveries.claim('trigger:42', 1000)).toBe(true);
    a.deliveries.setAnswer('trigger:42', '{"kind":"empty"}');
    expect(b.deliveries.claim('trigger:42', 1001)).toBe(false);
    expect(b.deliveries.answer('trigger:42')).toBe('{"kind":"empty"}');
    expect(b.deliveries.answer('trigger:43')).toBeNull();
    a.close();
    b.close();
  });

  it('a claim rolled back with its transaction leaves the key free', () => {
    const store = TriageStore.open(dir());
    expect(() =>
      store.transaction(() => {
        store.deliveries.claim('envelope:e1', 1);
        throw new Error('the store could not record the triage');
      }),
    ).toThrow();
    expect(store.deliveries.claim('envelope:e1', 2)).toBe(true);
    store.close();
  });

  it('keys older than the retention cut go with the triages', () => {
    const store = TriageStore.open(dir());
    store.deliveries.claim('old', 1000);
    store.deliveries.claim('new', 5000);
    store.prune(new Date(2000));
    expect(store.deliveries.claim('old', 6000)).toBe(true);
    expect(store.deliveries.claim('new', 6000)).toBe(false);
    store.close();
  });
});

describe('SlackOutbox: unsure posts', () => {
  it('keeps the earliest unsure attempt until an answer clears it', () => {
    const store = TriageStore.open(dir());
    const id = newTriageId();
    store.insertQueued({ id, node: 'node-1', trigger, dedupKey: null, createdAt: new Date() });
    const seq = store.outbox.enqueue({ triageId: id, purpose: 'start', callJson: '{}', atMs: 10 });
    store.outbox.markUnsure(seq, 100);
    store.outbox.markUnsure(seq, 200);
    expect(store.outbox.get(seq)!.unsureMs).toBe(100);
    store.outbox.clearUnsure(seq);
    expect(store.outbox.get(seq)!.unsureMs).toBeNull();
    store.close();
  });
});
