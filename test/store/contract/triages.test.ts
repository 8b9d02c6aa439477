import { expect, it } from 'vitest';
import { describeStores } from './stores.js';
import { RULES, T0, alertStep, at, completion, failed, manualStep, queue, started } from './steps.js';
import { verdictOf } from '../../support/service.js';

describeStores('store contract: triages', (stores) => {
  it('keeps a finished triage whole, also for another instance on the same store', async () => {
    const store = await stores.fresh();
    const t = await started(store);
    const c = completion('mmap-read');
    expect(await store.complete(t.id, 'replica-a', c)).toBe(true);
    const other = await stores.another(store);
    const got = (await other.get(t.id))!;
    expect(got).toMatchObject({ id: t.id, node: 'node-1', status: 'done', verdict: c.verdict, hasReport: true, trigger: t.trigger, options: {} });
    expect(got.createdAt).toBe(at(0).toISOString());
    expect(got.startedAt).toBe(at(1).toISOString());
    expect(got.finishedAt).toBe(at(5000).toISOString());
    expect(await other.report(t.id)).toBe('# report');
    expect(await other.result(t.id)).toBe('{"raw":true}');
    expect(await other.get('no-such-triage')).toBeUndefined();
    expect(await other.report('no-such-triage')).toBeUndefined();
  });

  it('only moves along queued → running → done/failed', async () => {
    const store = await stores.fresh();
    const id = await queue(store);
    expect(await store.complete(id, 'replica-a', completion())).toBe(false); // still queued
    expect((await store.claimNext({ owner: 'replica-a', untilMs: T0 + 60_000 }, at(1)))?.id).toBe(id);
    expect(await store.claimNext({ owner: 'replica-a', untilMs: T0 + 60_000 }, at(1))).toBeNull();
    expect(await store.fail(id, failed('interrupted'), at(2), ['running'])).toBe(true);
    // A run that comes back after being marked interrupted does not overwrite it.
    expect(await store.complete(id, 'replica-a', completion())).toBe(false);
    expect((await store.get(id))!).toMatchObject({ status: 'failed', verdict: { failure: { code: 'interrupted' } }, finishedAt: at(2).toISOString() });
    expect(await store.fail(id, failed('interrupted'), at(3), ['queued', 'running'])).toBe(false);
  });

  it('lists newest first, by node and by verdict, with a limit and an offset', async () => {
    const store = await stores.fresh();
    const ids: string[] = [];
    for (const node of ['node-1', 'node-2', 'node-1', 'node-1']) ids.push(await queue(store, node));
    expect((await store.list({ limit: 10 })).map((t) => t.id)).toEqual([...ids].reverse());
    expect((await store.list({ node: 'node-1', limit: 2 })).map((t) => t.id)).toEqual([ids[3], ids[2]]);
    expect((await store.list({ node: 'node-1', limit: 2, offset: 1 })).map((t) => t.id)).toEqual([ids[2], ids[0]]);
    expect(await store.list({ node: 'nope', limit: 2 })).toEqual([]);
    const t = await store.claimNext({ owner: 'replica-a', untilMs: T0 + 60_000 }, at(1));
    expect(t?.id).toBe(ids[0]);
    await store.complete(ids[0]!, 'replica-a', completion('mmap-read'));
    expect((await store.list({ kind: 'mmap-read', limit: 10 })).map((r) => r.id)).toEqual([ids[0]]);
    expect(await store.list({ kind: 'quiet', limit: 10 })).toEqual([]);
  });

  it("finds a resolved alert's triage by node and firing, the newest one", async () => {
    const store = await stores.fresh();
    const older = alertStep({ fingerprint: 'wanted' });
    const otherFiring = alertStep({ fingerprint: 'wanted', startsAt: '2026-11-28T00:00:00Z' });
    const otherNode = alertStep({ node: 'node-2', fingerprint: 'wanted-on-2' });
    await store.admit([older, otherFiring, otherNode, manualStep({ node: 'node-3' })], RULES, at(0));
    // The first one never ran (interrupted): the same notification may start a newer one.
    expect(await store.fail(older.id, failed('interrupted'), at(1), ['queued'])).toBe(true);
    const newer = alertStep({ fingerprint: 'wanted' });
    expect((await store.admit([newer], RULES, at(2)))[0]).toMatchObject({ status: 'queued' });
    expect((await store.latestForAlert('node-1', 'wanted', '2026-11-27T03:12:00Z'))?.id).toBe(newer.id);
    expect((await store.latestForAlert('node-2', 'wanted-on-2', '2026-11-27T03:12:00Z'))?.id).toBe(otherNode.id);
    expect(await store.latestForAlert('node-1', 'wanted-on-2', '2026-11-27T03:12:00Z')).toBeUndefined();
    expect((await store.latestForAlert('node-1', 'wanted', '2026-11-28T00:00:00Z'))?.id).toBe(otherFiring.id);
    expect(await store.latestForAlert('node-1', 'nope', '2026-11-27T03:12:00Z')).toBeUndefined();
  });

  it('dedups on the key, except triages that never ran (interrupted, dropped)', async () => {
    const store = await stores.fresh();
    const step = alertStep();
    await store.admit([step], RULES, at(0));
    expect((await store.findByDedupKey(step.dedupKey))?.id).toBe(step.id);
    await store.fail(step.id, failed('interrupted'), at(1), ['queued']);
    expect(await store.findByDedupKey(step.dedupKey)).toBeUndefined();
    const drop = alertStep({ fingerprint: 'dropped' });
    expect(await store.admit([drop], { cooldownMs: 0, maxQueued: 0 }, at(2))).toEqual([{ op: 'alert', status: 'dropped', id: drop.id }]);
    expect(await store.findByDedupKey(drop.dedupKey)).toBeUndefined();
    expect(await store.get(drop.id)).toMatchObject({ status: 'failed', finishedAt: at(2).toISOString(), verdict: { failure: { code: 'queue_full' } } });
    // A cancelled triage still holds its notification.
    const cancelled = alertStep({ fingerprint: 'cancelled' });
    await store.admit([cancelled], RULES, at(3));
    await store.fail(cancelled.id, failed('cancelled'), at(4), ['queued']);
    expect((await store.findByDedupKey(cancelled.dedupKey))?.id).toBe(cancelled.id);
  });

  it("gives a node's history: finished triages that looked at the node, newest first, since a time", async () => {
    const store = await stores.fresh();
    const a = await started(store);
    await store.complete(a.id, 'replica-a', completion('mmap-read', at(10)));
    const b = await started(store);
    await store.complete(b.id, 'replica-a', completion('quiet', at(20)));
    const interrupted = await queue(store);
    await store.fail(interrupted, failed('interrupted'), at(30), ['queued']);
    const other = await started(store, 'node-2');
    await store.complete(other.id, 'replica-a', completion('quiet', at(40)));
    await queue(store, 'node-1'); // unfinished: not history
    const h = await store.history('node-1', at(0), 10);
    expect(h).toEqual([
      { id: b.id, finishedAt: at(20).toISOString(), kind: 'quiet', pid: null, comm: null, path: null },
      { id: a.id, finishedAt: at(10).toISOString(), kind: 'mmap-read', pid: 4242, comm: 'reader', path: '/block' },
    ]);
    expect(await store.history('node-1', at(0), 1)).toEqual([h[0]]);
    expect(await store.history('node-1', at(1), 10)).toEqual([]);
  });

  it('keeps context and evidence; evidence that lost its shape reads as null', async () => {
    const store = await stores.fresh();
    const t = await started(store);
    await store.complete(t.id, 'replica-a', { ...completion(), resultJson: '{"analysis": {"not": "an analysis"}}' });
    expect(await store.result(t.id)).toBe('{"analysis": {"not": "an analysis"}}');
    expect(await store.evidence(t.id)).toBeNull();
    expect(await store.analysis(t.id)).toBeNull();
    expect(await store.evidence('no-such-triage')).toBeNull();
    expect((await store.get(t.id))!.context).toBeNull();
    const context = { history: [{ id: 'earlier-triage-0000000', finishedAt: at(-1000).toISOString(), kind: 'quiet' as const, pid: null, comm: null, path: null }] };
    await store.setContext(t.id, context);
    expect((await store.get(t.id))!.context).toEqual(context);
  });

  it('lists unfinished triages oldest first and prunes old finished ones', async () => {
    const store = await stores.fresh();
    const day = 86400_000;
    const old = await queue(store, 'node-1', at(-40 * day));
    const a = await queue(store, 'node-2', at(0));
    const b = await queue(store, 'node-3', at(1));
    const running = await store.claimNext({ owner: 'replica-a', untilMs: T0 + 60_000 }, at(2));
    expect(running?.id).toBe(old);
    expect((await store.unfinished()).map((t) => [t.id, t.status])).toEqual([[old, 'running'], [a, 'queued'], [b, 'queued']]);
    expect(await store.queuedCount()).toBe(2);
    expect(await store.prune(at(-30 * day))).toBe(0); // unfinished ones stay
    await store.fail(old, failed('interrupted'), at(3), ['running']);
    expect(await store.prune(at(-30 * day))).toBe(1);
    expect(await store.get(old)).toBeUndefined();
    expect((await store.unfinished()).map((t) => t.id)).toEqual([a, b]);
  });

  it('says where it is, that it is open, and its schema version', async () => {
    const store = await stores.fresh();
    expect(store.kind).toBe(stores.kind);
    expect(store.location).not.toMatch(/password/i);
    const h = await store.health();
    expect(h.schemaVersion).toBe(h.latestVersion);
    expect(h.latestVersion).toBeGreaterThanOrEqual(6);
    expect(store.open).toBe(true);
    await store.close();
    expect(store.open).toBe(false);
    await store.close(); // twice is fine
  });

  it('records a manual triage with its options and trigger', async () => {
    const store = await stores.fresh();
    const step = manualStep({ trigger: { kind: 'slack', user: 'U1', channel: 'C1' }, options: { sampleSeconds: 3, captureSeconds: 4 } });
    expect(await store.admit([step], RULES, at(0))).toEqual([{ op: 'manual', status: 'queued', id: step.id }]);
    expect(await store.get(step.id)).toMatchObject({ trigger: { kind: 'slack', user: 'U1', channel: 'C1' }, options: { sampleSeconds: 3, captureSeconds: 4 }, status: 'queued', verdict: null, hasReport: false, slack: null });
    expect(verdictOf('quiet', 'x').kind).toBe('quiet');
  });
});
