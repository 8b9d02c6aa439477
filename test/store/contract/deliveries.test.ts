import { expect, it } from 'vitest';
import { describeStores } from './stores.js';

describeStores('store contract: Slack deliveries', (stores) => {
  it('claims a key once; a repeat reads the answer kept the first time, also from another instance', async () => {
    const a = await stores.fresh();
    const b = await stores.another(a);
    expect(await a.deliveries.claim('trigger:42', 1000)).toBe(true);
    expect(await b.deliveries.answer('trigger:42')).toBeNull(); // claimed, no answer yet
    await a.deliveries.setAnswer('trigger:42', '{"kind":"empty"}');
    expect(await b.deliveries.claim('trigger:42', 1001)).toBe(false);
    expect(await b.deliveries.answer('trigger:42')).toBe('{"kind":"empty"}');
    expect(await b.deliveries.answer('trigger:43')).toBeNull();
  });

  it('gives a key back when handling it failed, but never one that has its answer', async () => {
    const store = await stores.fresh();
    const d = store.deliveries;
    expect(await d.claim('envelope:e1', 1)).toBe(true);
    await d.release('envelope:e1');
    expect(await d.claim('envelope:e1', 2)).toBe(true); // the redelivery is handled
    await d.setAnswer('envelope:e1', '{"ok":true}');
    await d.release('envelope:e1');
    expect(await d.claim('envelope:e1', 3)).toBe(false);
    expect(await d.answer('envelope:e1')).toBe('{"ok":true}');
    await d.release('never-claimed'); // nothing to give back
    expect(await d.claim('never-claimed', 4)).toBe(true);
  });

  it('keys older than the retention cut go with the triages', async () => {
    const store = await stores.fresh();
    await store.deliveries.claim('old', 1000);
    await store.deliveries.claim('new', 5000);
    await store.prune(new Date(2000));
    expect(await store.deliveries.claim('old', 6000)).toBe(true);
    expect(await store.deliveries.claim('new', 6000)).toBe(false);
  });
});
