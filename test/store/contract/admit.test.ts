import { expect, it } from 'vitest';
import { describeStores } from './stores.js';
import { RULES, T0, alertStep, at, cancelStep, completion, failed, manualStep, queue, started } from './steps.js';

const MINUTE = 60_000;

describeStores('store contract: admission', (stores) => {
  it('queues an alert once per notification, within a batch and across batches', async () => {
    const store = await stores.fresh();
    const first = alertStep();
    const again = { ...alertStep(), dedupKey: first.dedupKey, trigger: first.trigger };
    expect(await store.admit([first, again], RULES, at(0))).toEqual([
      { op: 'alert', status: 'queued', id: first.id },
      { op: 'alert', status: 'duplicate', id: first.id },
    ]);
    const later = { ...alertStep(), dedupKey: first.dedupKey, trigger: first.trigger };
    expect(await store.admit([later], RULES, at(1000))).toEqual([{ op: 'alert', status: 'duplicate', id: first.id }]);
    expect(await store.get(later.id)).toBeUndefined();
    // Still a duplicate while it runs and once it is done.
    expect((await store.claimNext({ owner: 'a', untilMs: T0 + MINUTE }, at(2)))?.id).toBe(first.id);
    expect(await store.complete(first.id, 'a', completion())).toBe(true);
    expect((await store.admit([later], RULES, at(3000)))[0]).toMatchObject({ status: 'duplicate', id: first.id });
  });

  it('lets a notification whose triage never ran (interrupted, dropped) start another', async () => {
    const store = await stores.fresh();
    const first = alertStep();
    await store.admit([first], RULES, at(0));
    await store.fail(first.id, failed('interrupted'), at(1), ['queued']);
    const second = { ...alertStep(), dedupKey: first.dedupKey, trigger: first.trigger };
    expect(await store.admit([second], { cooldownMs: 0, maxQueued: 0 }, at(2))).toEqual([{ op: 'alert', status: 'dropped', id: second.id }]);
    const third = { ...alertStep(), dedupKey: first.dedupKey, trigger: first.trigger };
    expect(await store.admit([third], RULES, at(3))).toEqual([{ op: 'alert', status: 'queued', id: third.id }]);
  });

  it("holds a node in cooldown after an automatic triage, for cooldownMs from its creation", async () => {
    const store = await stores.fresh();
    const rules = { cooldownMs: 10 * MINUTE, maxQueued: 1000 };
    const first = alertStep({ fingerprint: 'one' });
    await store.admit([first], rules, at(0));
    const second = alertStep({ fingerprint: 'two' });
    expect(await store.admit([second], rules, at(10 * MINUTE))).toEqual([{ op: 'alert', status: 'cooldown', id: first.id, createdAt: at(0).toISOString() }]);
    expect(await store.get(second.id)).toBeUndefined();
    // Another node is not held; neither is this one once the window has passed.
    expect((await store.admit([alertStep({ node: 'node-2', fingerprint: 'three' })], rules, at(MINUTE)))[0]).toMatchObject({ status: 'queued' });
    expect((await store.admit([second], rules, at(10 * MINUTE + 1)))[0]).toEqual({ op: 'alert', status: 'queued', id: second.id });
    // Without a cooldown, nothing holds.
    expect((await store.admit([alertStep({ fingerprint: 'four' })], RULES, at(10 * MINUTE + 2)))[0]).toMatchObject({ status: 'queued' });
  });

  it('does not cool a node down for manual, cancelled, interrupted or dropped triages', async () => {
    const store = await stores.fresh();
    const rules = { cooldownMs: 10 * MINUTE, maxQueued: 1000 };
    await store.admit([manualStep()], rules, at(0));
    const cancelled = alertStep({ fingerprint: 'c' });
    const interrupted = alertStep({ fingerprint: 'i' });
    await store.admit([alertStep({ node: 'node-1', fingerprint: 'd' })], { ...rules, maxQueued: 0 }, at(1));
    // The queued manual triage does not hold a cooldown: the alert queues.
    expect((await store.admit([cancelled], rules, at(2)))[0]).toMatchObject({ status: 'queued' });
    expect(await store.admit([cancelStep('node-1', 'c')], rules, at(3))).toEqual([{ op: 'cancel', cancelled: [cancelled.id] }]);
    expect((await store.admit([interrupted], rules, at(4)))[0]).toMatchObject({ status: 'queued' });
    expect(await store.fail(interrupted.id, failed('interrupted'), at(5), ['queued'])).toBe(true);
    const next = alertStep({ fingerprint: 'n' });
    expect(await store.admit([next], rules, at(6))).toEqual([{ op: 'alert', status: 'queued', id: next.id }]);
    // An automatic triage that is queued (or ran) holds it.
    expect((await store.admit([alertStep({ fingerprint: 'm' })], rules, at(7)))[0]).toEqual({ op: 'alert', status: 'cooldown', id: next.id, createdAt: at(6).toISOString() });
  });

  it('drops what does not fit in the queue (counted over every node) and records it as failed', async () => {
    const store = await stores.fresh();
    const rules = { cooldownMs: 0, maxQueued: 2 };
    await queue(store, 'node-1');
    await queue(store, 'node-2');
    const alert = alertStep({ node: 'node-3', fingerprint: 'late' });
    const manual = manualStep({ node: 'node-4' });
    expect(await store.admit([alert, manual], rules, at(10))).toEqual([
      { op: 'alert', status: 'dropped', id: alert.id },
      { op: 'manual', status: 'dropped', id: manual.id },
    ]);
    for (const [id, node] of [[alert.id, 'node-3'], [manual.id, 'node-4']] as const) {
      expect(await store.get(id)).toMatchObject({ node, status: 'failed', createdAt: at(10).toISOString(), finishedAt: at(10).toISOString(), verdict: alert.dropped });
    }
    expect((await store.get(manual.id))!.trigger).toEqual({ kind: 'cli' });
    // A running triage is not queued: its place is free again.
    await store.claimNext({ owner: 'a', untilMs: T0 + MINUTE }, at(11));
    const fits = manualStep({ node: 'node-4' });
    expect(await store.admit([fits], rules, at(12))).toEqual([{ op: 'manual', status: 'queued', id: fits.id }]);
  });

  it("answers a manual request with the node's queued or running triage, the oldest", async () => {
    const store = await stores.fresh();
    const running = await started(store, 'node-1');
    const queued = await queue(store, 'node-1');
    expect(await store.admit([manualStep()], RULES, at(2))).toEqual([{ op: 'manual', status: 'duplicate', id: running.id }]);
    await store.complete(running.id, 'replica-a', completion());
    expect(await store.admit([manualStep()], RULES, at(3))).toEqual([{ op: 'manual', status: 'duplicate', id: queued }]);
    await store.fail(queued, failed('cancelled'), at(4), ['queued']);
    const m = manualStep({ options: { sampleSeconds: 2 } });
    const again = manualStep();
    expect(await store.admit([m, again], RULES, at(5))).toEqual([
      { op: 'manual', status: 'queued', id: m.id },
      { op: 'manual', status: 'duplicate', id: m.id },
    ]);
    expect((await store.get(m.id))!.options).toEqual({ sampleSeconds: 2 });
    // Other nodes are not affected.
    expect((await store.admit([manualStep({ node: 'node-2' })], RULES, at(6)))[0]).toMatchObject({ status: 'queued' });
  });

  it("cancels the node's queued triages of a resolved alert, oldest first, and nothing else", async () => {
    const store = await stores.fresh();
    const running = alertStep({ fingerprint: 'gone', startsAt: '2026-11-27T01:00:00Z' });
    await store.admit([running], RULES, at(0));
    expect((await store.claimNext({ owner: 'a', untilMs: T0 + MINUTE }, at(1)))?.id).toBe(running.id);
    const q1 = alertStep({ fingerprint: 'gone', startsAt: '2026-11-27T02:00:00Z' });
    const q2 = alertStep({ fingerprint: 'gone', startsAt: '2026-11-27T03:00:00Z' });
    const otherAlert = alertStep({ fingerprint: 'stays' });
    const otherNode = alertStep({ node: 'node-2', fingerprint: 'gone', startsAt: '2026-11-27T04:00:00Z' });
    const manual = manualStep({ node: 'node-3' });
    await store.admit([q1, q2, otherAlert, otherNode, manual], RULES, at(2));
    const [result] = await store.admit([cancelStep('node-1', 'gone')], RULES, at(3));
    expect(result).toEqual({ op: 'cancel', cancelled: [q1.id, q2.id] });
    for (const id of [q1.id, q2.id]) {
      expect(await store.get(id)).toMatchObject({ status: 'failed', finishedAt: at(3).toISOString(), verdict: { failure: { code: 'cancelled' } } });
    }
    for (const id of [running.id]) expect((await store.get(id))!.status).toBe('running');
    for (const id of [otherAlert.id, otherNode.id, manual.id]) expect((await store.get(id))!.status).toBe('queued');
    expect(await store.admit([cancelStep('node-1', 'gone')], RULES, at(4))).toEqual([{ op: 'cancel', cancelled: [] }]);
  });

  it('applies a batch in one transaction: a step that fails takes the whole batch back', async () => {
    const store = await stores.fresh();
    const first = alertStep({ fingerprint: 'one' });
    const clash = alertStep({ id: first.id, node: 'node-2', fingerprint: 'two' }); // the same id twice cannot be stored
    await expect(store.admit([first, clash], RULES, at(0))).rejects.toThrow();
    expect(await store.get(first.id)).toBeUndefined();
    expect(await store.unfinished()).toEqual([]);
    expect(await store.admit([first], RULES, at(1))).toEqual([{ op: 'alert', status: 'queued', id: first.id }]);
  });
});
