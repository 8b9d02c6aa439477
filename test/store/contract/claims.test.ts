import { expect, it } from 'vitest';
import { describeStores } from './stores.js';
import { T0, at, completion, failed, queue, started } from './steps.js';

const lease = (owner: string, untilMs = T0 + 60_000) => ({ owner, untilMs });

describeStores('store contract: claims and leases', (stores) => {
  it('claims the oldest queued triage whose node has nothing running, with its lease and start time', async () => {
    const store = await stores.fresh();
    const a1 = await queue(store, 'node-1', at(0));
    const a2 = await queue(store, 'node-1', at(1));
    const b1 = await queue(store, 'node-2', at(2));
    const first = await store.claimNext(lease('replica-a'), at(10));
    expect(first).toMatchObject({ id: a1, status: 'running', startedAt: at(10).toISOString() });
    // node-1 is busy: its second triage waits, node-2's goes first.
    expect((await store.claimNext(lease('replica-b'), at(11)))?.id).toBe(b1);
    expect(await store.claimNext(lease('replica-b'), at(12))).toBeNull();
    expect(await store.complete(a1, 'replica-a', completion())).toBe(true);
    expect((await store.claimNext(lease('replica-b'), at(13)))?.id).toBe(a2);
    expect(await store.claimNext(lease('replica-b'), at(14))).toBeNull();
    expect((await store.unfinished()).map((t) => [t.id, t.status])).toEqual([[a2, 'running'], [b1, 'running']]); // by age, not by start
  });

  it('renews only the leases the owner still holds', async () => {
    const store = await stores.fresh();
    const a = await started(store, 'node-1', 'replica-a', T0 + 1000);
    const b = await started(store, 'node-2', 'replica-b', T0 + 1000);
    expect(await store.renewLeases('replica-a', [a.id, b.id, 'no-such-triage'], T0 + 5000)).toEqual([a.id]);
    expect(await store.renewLeases('replica-a', [], T0 + 5000)).toEqual([]);
    // a was renewed, b was not: only b has expired at T0 + 2000.
    expect((await store.expiredLeases(T0 + 2000)).map((t) => t.id)).toEqual([b.id]);
    expect(await store.expiredLeases(T0 + 1000)).toEqual([]);
    expect((await store.expiredLeases(T0 + 5001)).map((t) => t.id)).toEqual([a.id, b.id]);
    await store.complete(a.id, 'replica-a', completion());
    expect(await store.renewLeases('replica-a', [a.id], T0 + 9000)).toEqual([]);
  });

  it('requeues an expired lease once; the triage runs again and its runs are counted', async () => {
    const store = await stores.fresh();
    const t = await started(store, 'node-1', 'replica-a', T0 + 1000);
    expect(await store.runs(t.id)).toBe(1);
    expect(await store.requeueExpired(t.id, T0 + 1000)).toBe(false); // not expired yet
    expect(await store.requeueExpired(t.id, T0 + 1001)).toBe(true);
    expect(await store.requeueExpired(t.id, T0 + 1001)).toBe(false); // done already
    expect(await store.get(t.id)).toMatchObject({ status: 'queued', startedAt: null });
    expect(await store.expiredLeases(T0 + 9999)).toEqual([]);
    // The replica that lost it can neither finish nor renew it.
    const again = await store.claimNext(lease('replica-b', T0 + 9000), at(2000));
    expect(again).toMatchObject({ id: t.id, startedAt: at(2000).toISOString() });
    expect(await store.runs(t.id)).toBe(2);
    expect(await store.renewLeases('replica-a', [t.id], T0 + 99_000)).toEqual([]);
    expect(await store.complete(t.id, 'replica-a', completion())).toBe(false);
    expect(await store.complete(t.id, 'replica-b', completion())).toBe(true);
    expect(await store.get(t.id)).toMatchObject({ status: 'done' });
    expect(await store.runs(t.id)).toBe(2);
    expect(await store.runs('no-such-triage')).toBe(0);
  });

  it('refuses to complete a triage for a replica that does not hold its lease', async () => {
    const store = await stores.fresh();
    const t = await started(store, 'node-1', 'replica-a');
    expect(await store.complete(t.id, 'replica-b', completion())).toBe(false);
    expect((await store.get(t.id))!.status).toBe('running');
    expect(await store.complete(t.id, 'replica-a', completion())).toBe(true);
    expect(await store.complete(t.id, 'replica-a', completion())).toBe(false);
  });

  it("fails a running triage only as its owner, after its lease expired, or whoever holds it", async () => {
    const store = await stores.fresh();
    const t = await started(store, 'node-1', 'replica-a', T0 + 1000);
    expect(await store.fail(t.id, failed('interrupted'), at(2000), ['queued'])).toBe(false);
    expect(await store.fail(t.id, failed('interrupted'), at(500), ['running'], 'replica-b')).toBe(false);
    expect(await store.fail(t.id, failed('interrupted'), at(1000), ['running'], null)).toBe(false); // not expired at 1000
    expect(await store.fail(t.id, failed('interrupted'), at(1001), ['running'], null)).toBe(true);
    expect(await store.get(t.id)).toMatchObject({ status: 'failed', finishedAt: at(1001).toISOString(), verdict: { failure: { code: 'interrupted' } } });

    const u = await started(store, 'node-2', 'replica-a', T0 + 1000);
    expect(await store.fail(u.id, failed('interrupted'), at(500), ['running'], 'replica-a')).toBe(true);
    const v = await started(store, 'node-3', 'replica-a', T0 + 1000);
    expect(await store.fail(v.id, failed('interrupted'), at(500), ['queued', 'running'])).toBe(true);
    // The lease went with it: the node can run again, and nothing is left expired.
    expect(await store.expiredLeases(T0 + 99_000)).toEqual([]);
    const w = await started(store, 'node-3', 'replica-b');
    expect(w.node).toBe('node-3');
  });
});
