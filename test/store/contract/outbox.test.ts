import { expect, it } from 'vitest';
import { describeStores } from './stores.js';
import { at, failed, queue } from './steps.js';

const CLAIM = 30_000;

describeStores('store contract: Slack outbox', (stores) => {
  it("hands out rows oldest first, a triage's rows strictly in order, and others past one waiting", async () => {
    const store = await stores.fresh();
    const a = await queue(store, 'node-1');
    const b = await queue(store, 'node-2');
    const o = store.outbox;
    const a1 = (await o.enqueue({ triageId: a, purpose: 'start', callJson: '{"a":1}', atMs: 1000 }))!;
    const a2 = (await o.enqueue({ triageId: a, purpose: 'verdict', callJson: '{}', atMs: 1000 }))!;
    const b1 = (await o.enqueue({ triageId: b, purpose: 'start', callJson: '{}', atMs: 1000 }))!;
    const r1 = (await o.enqueue({ triageId: null, purpose: 'respond', callJson: '{}', atMs: 1000 }))!;
    expect(await o.claimDue(999, 'r', CLAIM)).toBeUndefined(); // nothing due yet
    expect(await o.claimDue(1000, 'r', CLAIM)).toMatchObject({ seq: a1, triageId: a, purpose: 'start', callJson: '{"a":1}', state: 'pending', attempts: 0, createdMs: 1000, nextMs: 1000, lastError: null, unsureMs: null });
    // a1 waits for a retry: a2 must not overtake it, b1 may go.
    await o.retryAt(a1, 5000, 'http_500');
    expect((await o.claimDue(1000, 'r', CLAIM))?.seq).toBe(b1);
    await o.markSent(b1, 1001);
    expect((await o.claimDue(1001, 'r', CLAIM))?.seq).toBe(r1);
    await o.markFailed(r1, 1002, 'http_404');
    expect(await o.claimDue(1002, 'r', CLAIM)).toBeUndefined();
    expect(await o.nextDueAt()).toBe(5000);
    expect((await o.claimDue(5000, 'r', CLAIM))?.seq).toBe(a1);
    await o.markSent(a1, 5000);
    expect((await o.claimDue(5000, 'r', CLAIM))?.seq).toBe(a2);
    expect(await o.triageStates(a)).toEqual({ pending: 1, sent: 1, failed: 0 });
    expect(await o.get(a1)).toMatchObject({ state: 'sent', attempts: 2, lastError: null });
    expect(await o.get(r1)).toMatchObject({ state: 'failed', attempts: 1, lastError: 'http_404' });
    expect(await o.pendingCount()).toBe(1);
    expect((await o.forTriage(a)).map((r) => r.seq)).toEqual([a1, a2]);
    expect(await o.get(999_999)).toBeUndefined();
  });

  it('queues a triage message once per purpose and marks the triage pending', async () => {
    const store = await stores.fresh();
    const id = await queue(store);
    const o = store.outbox;
    await o.setState(id, 'failed', 'channel_not_found');
    const seq = await o.enqueue({ triageId: id, purpose: 'start', callJson: '{}', atMs: 1 });
    expect(seq).toEqual(expect.any(Number));
    expect(await o.enqueue({ triageId: id, purpose: 'start', callJson: '{"again":true}', atMs: 2 })).toBeNull();
    expect((await o.forTriage(id)).map((r) => r.callJson)).toEqual(['{}']);
    expect(await o.hasQueued(id, 'start')).toBe(true);
    expect(await o.hasQueued(id, 'verdict')).toBe(false);
    // The state goes back to pending; the last error stays until the next outcome.
    expect((await store.get(id))!.slack).toEqual({ state: 'pending', error: 'channel_not_found', channel: null, ts: null });
    expect(await o.lastError(id)).toBe('channel_not_found');
    // Rows without a triage (answers to a command) are never refused.
    expect(await o.enqueue({ triageId: null, purpose: 'respond', callJson: '{}', atMs: 3 })).toEqual(expect.any(Number));
    expect(await o.enqueue({ triageId: null, purpose: 'respond', callJson: '{}', atMs: 3 })).toEqual(expect.any(Number));
  });

  it('lets one claimant at a time take a row; the claim ends with its outcome or when it expires', async () => {
    const store = await stores.fresh();
    const id = await queue(store);
    const o = store.outbox;
    const seq = (await o.enqueue({ triageId: id, purpose: 'start', callJson: '{}', atMs: 1000 }))!;
    expect((await o.claimDue(1000, 'replica-a', CLAIM))?.seq).toBe(seq);
    expect(await o.claimDue(1001, 'replica-b', CLAIM)).toBeUndefined();
    // A claimed row still counts as due: its owner finishes it, others just find nothing.
    expect(await o.nextDueAt()).toBe(1000);
    // Its claimant stopped: once the claim expires another replica takes the row.
    expect((await o.claimDue(1000 + CLAIM + 1, 'replica-b', CLAIM))?.seq).toBe(seq);
    await o.retryAt(seq, 2000, 'timeout', false);
    expect(await o.get(seq)).toMatchObject({ attempts: 0, nextMs: 2000, lastError: 'timeout' });
    // retryAt released the claim: the row is due again for anyone.
    expect((await o.claimDue(2000, 'replica-a', CLAIM))?.seq).toBe(seq);
    await o.markSent(seq, 2001);
    expect(await o.claimDue(99_999, 'replica-b', CLAIM)).toBeUndefined();
    expect(await o.nextDueAt()).toBeUndefined();
  });

  it("keeps the triage's message and delivery state", async () => {
    const store = await stores.fresh();
    const id = await queue(store);
    const o = store.outbox;
    expect(await o.message(id)).toBeNull();
    await o.setMessage(id, 'C1', '1.2');
    await o.setState(id, 'sent', null);
    expect(await o.message(id)).toEqual({ channel: 'C1', ts: '1.2' });
    expect((await store.get(id))!.slack).toEqual({ state: 'sent', error: null, channel: 'C1', ts: '1.2' });
    await o.setMessage(id, 'C1', null);
    expect(await o.message(id)).toBeNull();
    expect(await o.lastError(id)).toBeNull();
    expect(await o.message('no-such-triage')).toBeNull();
  });

  it('keeps the earliest unsure attempt until an answer clears it', async () => {
    const store = await stores.fresh();
    const id = await queue(store);
    const seq = (await store.outbox.enqueue({ triageId: id, purpose: 'start', callJson: '{}', atMs: 10 }))!;
    await store.outbox.markUnsure(seq, 100);
    await store.outbox.markUnsure(seq, 200);
    expect((await store.outbox.get(seq))!.unsureMs).toBe(100);
    await store.outbox.clearUnsure(seq);
    expect((await store.outbox.get(seq))!.unsureMs).toBeNull();
  });

  it('finds finished triages whose start message never got its verdict', async () => {
    const store = await stores.fresh();
    const id = await queue(store);
    await store.outbox.enqueue({ triageId: id, purpose: 'start', callJson: '{}', atMs: 1 });
    expect(await store.outbox.startedWithoutVerdict()).toEqual([]); // still queued
    await store.fail(id, failed('interrupted'), at(1), ['queued']);
    expect(await store.outbox.startedWithoutVerdict()).toEqual([id]);
    await store.outbox.enqueue({ triageId: id, purpose: 'verdict', callJson: '{}', atMs: 2 });
    expect(await store.outbox.startedWithoutVerdict()).toEqual([]);
  });

  it('is pruned with the triages it belongs to, and answers without a triage by age', async () => {
    const store = await stores.fresh();
    const jan = Date.parse('2026-01-01T00:00:00Z');
    const old = await queue(store, 'node-1', new Date(jan));
    await store.fail(old, failed('interrupted'), new Date(jan + 10_000), ['queued']);
    await store.outbox.enqueue({ triageId: old, purpose: 'start', callJson: '{}', atMs: jan + 1000 });
    const sent = (await store.outbox.enqueue({ triageId: null, purpose: 'respond', callJson: '{}', atMs: jan + 1000 }))!;
    await store.outbox.markSent(sent, jan + 2000);
    const pending = (await store.outbox.enqueue({ triageId: null, purpose: 'respond', callJson: '{}', atMs: jan + 1000 }))!;
    expect(await store.prune(new Date('2026-02-01T00:00:00Z'))).toBe(1);
    expect(await store.outbox.forTriage(old)).toEqual([]);
    expect(await store.outbox.get(sent)).toBeUndefined();
    // A call not made yet stays, however old.
    expect((await store.outbox.get(pending))?.state).toBe('pending');
  });
});
