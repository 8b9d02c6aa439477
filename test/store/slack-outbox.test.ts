import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { newTriageId } from '../../src/model/ids.js';
import { MIGRATIONS, TriageStore } from '../../src/store/triage-store.js';
import { tempDir, verdictOf } from '../support/service.js';

const dirs: (() => void)[] = [];
afterEach(() => dirs.splice(0).forEach((rm) => rm()));
function dir() {
  const d = tempDir('pft-outbox-');
  dirs.push(d.remove);
  return d.path;
}

const trigger = { kind: 'alert' as const, alertname: 'NodeMemoryMajorPagesFaults', fingerprint: 'ffff', startsAt: '2026-11-27T03:12:00Z', labels: {}, annotations: {} };

function addTriage(store: TriageStore, createdAt = new Date()): string {
  const id = newTriageId();
  store.insertQueued({ id, node: 'node-1', trigger, dedupKey: null, createdAt });
  return id;
}

describe('store migration 2 (Slack)', () => {
  it('upgrades a schema-1 store in place, keeping its triages', () => {
    const path = dir();
    mkdirSync(path, { recursive: true });
    const db = new Database(join(path, 'triages.sqlite'));
    db.exec(MIGRATIONS[0]!);
    db.pragma('user_version = 1');
    db.prepare(
      `INSERT INTO triages (id, node, trigger_kind, trigger_json, status, created_at, created_ms) VALUES ('old-triage-000000000000', 'node-1', 'alert', ?, 'queued', '2026-11-27T03:12:00Z', 1)`,
    ).run(JSON.stringify(trigger));
    db.close();

    const store = TriageStore.open(path);
    expect(store.get('old-triage-000000000000')).toMatchObject({ node: 'node-1', status: 'queued', slack: null });
    store.outbox.setMessage('old-triage-000000000000', 'C1', '1.2');
    store.outbox.setState('old-triage-000000000000', 'sent', null);
    expect(store.get('old-triage-000000000000')!.slack).toEqual({ state: 'sent', error: null, channel: 'C1', ts: '1.2' });
    store.close();
    const again = new Database(join(path, 'triages.sqlite'));
    expect(again.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    again.close();
  });
});

describe('SlackOutbox', () => {
  it("hands out rows oldest first, a triage's rows strictly in order, and others past one waiting", () => {
    const store = TriageStore.open(dir());
    const a = addTriage(store);
    const b = addTriage(store);
    const a1 = store.outbox.enqueue({ triageId: a, purpose: 'start', callJson: '{}', atMs: 1000 });
    const a2 = store.outbox.enqueue({ triageId: a, purpose: 'verdict', callJson: '{}', atMs: 1000 });
    const b1 = store.outbox.enqueue({ triageId: b, purpose: 'start', callJson: '{}', atMs: 1000 });
    const r1 = store.outbox.enqueue({ triageId: null, purpose: 'respond', callJson: '{}', atMs: 1000 });
    expect(store.outbox.nextDue(1000)?.seq).toBe(a1);
    // a1 waits for a retry: a2 must not overtake it, b1 may go.
    store.outbox.retryAt(a1, 5000, 'http_500');
    expect(store.outbox.nextDue(1000)?.seq).toBe(b1);
    store.outbox.markSent(b1, 1001);
    expect(store.outbox.nextDue(1001)?.seq).toBe(r1);
    store.outbox.markFailed(r1, 1002, 'http_404');
    expect(store.outbox.nextDue(1002)).toBeUndefined();
    expect(store.outbox.nextDueAt()).toBe(5000);
    expect(store.outbox.nextDue(5000)?.seq).toBe(a1);
    store.outbox.markSent(a1, 5000);
    expect(store.outbox.nextDue(5000)?.seq).toBe(a2);
    expect(store.outbox.triageStates(a)).toEqual({ pending: 1, sent: 1, failed: 0 });
    expect(store.outbox.get(a1)).toMatchObject({ state: 'sent', attempts: 2, lastError: null });
    expect(store.outbox.pendingCount()).toBe(1);
    store.close();
  });

  it('finds finished triages whose start message never got its verdict', () => {
    const store = TriageStore.open(dir());
    const id = addTriage(store);
    store.outbox.enqueue({ triageId: id, purpose: 'start', callJson: '{}', atMs: 1 });
    expect(store.outbox.startedWithoutVerdict()).toEqual([]); // still queued
    store.fail(id, verdictOf('failed', 'interrupted'), new Date(), ['queued']);
    expect(store.outbox.startedWithoutVerdict()).toEqual([id]);
    store.outbox.enqueue({ triageId: id, purpose: 'verdict', callJson: '{}', atMs: 2 });
    expect(store.outbox.startedWithoutVerdict()).toEqual([]);
    store.close();
  });

  it('is pruned with the triages it belongs to, and answers without a triage by age', () => {
    const store = TriageStore.open(dir());
    const old = addTriage(store, new Date('2026-01-01T00:00:00Z'));
    store.fail(old, verdictOf('failed', 'x'), new Date('2026-01-01T00:00:10Z'), ['queued']);
    store.outbox.enqueue({ triageId: old, purpose: 'start', callJson: '{}', atMs: Date.parse('2026-01-01T00:00:01Z') });
    const seq = store.outbox.enqueue({ triageId: null, purpose: 'respond', callJson: '{}', atMs: Date.parse('2026-01-01T00:00:01Z') });
    store.outbox.markSent(seq, Date.parse('2026-01-01T00:00:02Z'));
    expect(store.prune(new Date('2026-02-01T00:00:00Z'))).toBe(1);
    expect(store.outbox.forTriage(old)).toEqual([]);
    expect(store.outbox.get(seq)).toBeUndefined();
    store.close();
  });
});
