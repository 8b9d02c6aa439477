import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { webhookSchema } from '../../src/intake/alertmanager.js';
import { createService, type Service } from '../../src/service.js';
import { fakeRender, fakeResult, nodesNamed, recordingTriage, silentLog, tempDir, testConfig, waitFor, webhook, type AlertSpec, verdictOf } from '../support/service.js';

/**
 * Dispatch through the service with a real store and a stand-in engine that records concurrency:
 * these tests are about who runs when, not about what a triage finds.
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function service(over: Parameters<typeof testConfig>[1] = {}, opts: { ms?: number; manual?: boolean } = {}) {
  const dir = tempDir('pft-dispatch-');
  const clock = { now: new Date('2026-11-27T03:30:00Z') };
  const rec = recordingTriage(opts);
  const svc = await createService(testConfig(dir.path, over), { triage: rec.triage, render: fakeRender, log: silentLog, now: () => clock.now });
  cleanups.push(dir.remove, () => {
    rec.release();
    return svc.close(1);
  });
  return { svc, rec, clock };
}

const receive = (svc: Service, alerts: AlertSpec[]) => svc.receiveWebhook(webhookSchema.parse(webhook(alerts)));

describe('dedup', () => {
  it('turns a resent notification (same fingerprint and startsAt) into a duplicate of the first triage', async () => {
    const { svc, rec } = await service();
    const first = await receive(svc, [{ labels: { instance: 'node-1:9100' } }]);
    expect(first.triages).toEqual([{ id: expect.any(String), node: 'node-1', fingerprint: expect.any(String), status: 'queued' }]);
    for (let i = 0; i < 4; i++) {
      const again = await receive(svc, [{ labels: { instance: 'node-1:9100' } }]);
      expect(again.triages).toEqual([{ ...first.triages[0], status: 'duplicate' }]);
    }
    await svc.dispatcher.idle();
    // Still a duplicate once the triage is done.
    expect((await receive(svc, [{ labels: { instance: 'node-1:9100' } }])).triages[0]!.status).toBe('duplicate');
    expect(rec.stats.calls).toHaveLength(1);
  });

  it('treats a new startsAt of the same alert as a new firing (subject to cooldown)', async () => {
    const { svc } = await service({ triage: { cooldownSeconds: 0 } });
    const a = await receive(svc, [{ labels: { instance: 'node-1:9100' }, startsAt: '2026-11-27T03:00:00Z' }]);
    const b = await receive(svc, [{ labels: { instance: 'node-1:9100' }, startsAt: '2026-11-27T03:20:00Z' }]);
    expect(a.triages[0]!.status).toBe('queued');
    expect(b.triages[0]!.status).toBe('queued');
    expect(b.triages[0]!.id).not.toBe(a.triages[0]!.id);
  });
});

describe('cooldown', () => {
  it('allows one automatic triage per node per cooldownSeconds, with the reason under ignored', async () => {
    const { svc, clock } = await service({ triage: { cooldownSeconds: 600 } });
    const first = await receive(svc, [{ labels: { instance: 'node-1:9100' } }]);
    clock.now = new Date(clock.now.getTime() + 599_000);
    const second = await receive(svc, [{ labels: { instance: 'node-1:9100', job: 'node-exporter' } }]);
    expect(second.triages).toEqual([]);
    expect(second.ignored).toEqual([
      {
        fingerprint: expect.any(String),
        reason: `node node-1 is in cooldown: triage ${first.triages[0]!.id} was started by an alert at 2026-11-27T03:30:00.000Z; the next automatic triage can start after 2026-11-27T03:40:00.000Z`,
      },
    ]);
    clock.now = new Date(clock.now.getTime() + 2_000);
    expect((await receive(svc, [{ labels: { instance: 'node-1:9100', job: 'other' } }])).triages[0]!.status).toBe('queued');
  });

  it('is per node', async () => {
    const { svc } = await service();
    const r = await receive(svc, [{ labels: { instance: 'node-1:9100' } }, { labels: { instance: 'node-2:9100' } }, { labels: { instance: 'node-1', job: 'x' } }]);
    expect(r.triages.map((t) => [t.node, t.status])).toEqual([['node-1', 'queued'], ['node-2', 'queued']]);
    expect(r.ignored).toHaveLength(1);
    expect(r.ignored[0]!.reason).toMatch(/^node node-1 is in cooldown/);
  });

  it('does not apply to triages someone asks for', async () => {
    const { svc } = await service();
    await receive(svc, [{ labels: { instance: 'node-1:9100' } }]);
    await svc.dispatcher.idle();
    expect((await svc.requestTriage('node-1', { kind: 'slack', user: 'U1', channel: 'C1' })).status).toBe('queued');
  });
});

describe('limits', () => {
  it('runs one triage per node and at most maxConcurrent in all, oldest first', async () => {
    const { svc, rec } = await service({ nodes: nodesNamed(6), triage: { cooldownSeconds: 0, maxConcurrent: 3 } }, { ms: 15 });
    const alerts: AlertSpec[] = [];
    for (let round = 0; round < 4; round++) for (let n = 1; n <= 6; n++) alerts.push({ labels: { instance: `node-${n}:9100`, round: String(round) } });
    const r = await receive(svc, alerts);
    expect(r.triages.filter((t) => t.status === 'queued')).toHaveLength(24);
    await svc.dispatcher.idle();
    expect(rec.stats.calls).toHaveLength(24);
    expect(rec.stats.maxPerNode).toBe(1);
    expect(rec.stats.maxRunning).toBe(3);
    expect((await svc.listTriages({ limit: 100 })).every((t) => t.status === 'done')).toBe(true);
  });

  it('a triage someone asks for while the node has one queued or running gets that one', async () => {
    const { svc, rec } = await service({}, { manual: true });
    const a = await svc.requestTriage('node-1', { kind: 'cli' });
    expect(a.status).toBe('queued');
    await waitFor('the triage to start', () => rec.running === 1);
    expect(await svc.requestTriage('node-1', { kind: 'button', user: 'U2', channel: null })).toEqual({ status: 'duplicate', id: a.id, node: 'node-1' });
    expect((await svc.requestTriage('node-2', { kind: 'cli' })).status).toBe('queued');
    await expect(svc.requestTriage('nope', { kind: 'cli' })).rejects.toThrow('there is no node "nope" in the inventory');
  });

  it('past maxQueued records the triage as dropped, with the reason, never silently', async () => {
    const { svc, rec } = await service({ nodes: nodesNamed(5), triage: { maxConcurrent: 1, maxQueued: 2 } }, { manual: true });
    const r = await receive(svc, [1, 2, 3, 4, 5].map((n) => ({ labels: { instance: `node-${n}` } })));
    // node-1 may already run or still be queued: the answer is given before anything starts.
    expect(r.triages.map((t) => t.node)).toEqual(['node-1', 'node-2']);
    expect(r.ignored.map((i) => i.reason)).toEqual([
      expect.stringMatching(/^the queue is full \(triage.maxQueued = 2\); recorded as failed triage [\w-]{22}$/),
      expect.stringMatching(/^the queue is full/),
      expect.stringMatching(/^the queue is full/),
    ]);
    const droppedId = /triage ([\w-]{22})$/.exec(r.ignored[0]!.reason)![1]!;
    expect(await svc.getTriage(droppedId)).toMatchObject({ node: 'node-3', status: 'failed', verdict: { kind: 'failed', failure: { code: 'queue_full', retryable: true } } });
    await waitFor('node-1 to run', () => rec.running === 1);
    // Once there is room, Alertmanager's resend of a dropped alert is not a duplicate: it queues.
    const resend = await receive(svc, [{ labels: { instance: 'node-3' } }]);
    expect(resend.triages[0]).toMatchObject({ node: 'node-3', status: 'queued' });
    expect(await svc.metrics.registry.getSingleMetricAsString('pagefault_triage_alerts_received_total')).toContain('outcome="dropped"} 3');
  });

  it('a queue-full storm logs one warning per webhook, with the count and the triage ids, not one per alert', async () => {
    const lines: { level: number; msg: string; dropped?: number; triageIds?: string[]; nodes?: string[]; maxQueued?: number }[] = [];
    const log = pino({ level: 'info' }, new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        done();
      },
    }));
    const dir = tempDir('pft-dispatch-');
    const rec = recordingTriage({ manual: true });
    const svc = await createService(testConfig(dir.path, { nodes: nodesNamed(200), triage: { maxConcurrent: 1, maxQueued: 2 } }), { triage: rec.triage, render: fakeRender, log });
    cleanups.push(dir.remove, () => {
      rec.release();
      return svc.close(1);
    });
    const first = await receive(svc, nodesNamed(200).map((n) => ({ labels: { instance: n.name } })));
    expect(first.ignored).toHaveLength(198);
    await new Promise((r) => setImmediate(r)); // the next webhook arrives in a later turn of the event loop
    const second = await receive(svc, [10, 11, 12].map((n) => ({ labels: { instance: `node-${n}`, burst: 'two' } })));
    expect(second.ignored).toHaveLength(2); // node-1 runs now, so one of the three fits in the queue
    await new Promise((r) => setTimeout(r, 50));
    const warnings = lines.filter((l) => /dropped: (the )?queue (is )?full/.test(l.msg));
    expect(warnings.map((w) => w.msg)).toEqual([
      '198 triages dropped: the queue is full (triage.maxQueued = 2); each is recorded as failed (queue_full)',
      '2 triages dropped: the queue is full (triage.maxQueued = 2); each is recorded as failed (queue_full)',
    ]);
    expect(warnings[0]).toMatchObject({ level: 40, dropped: 198, maxQueued: 2 });
    expect(warnings[0]!.triageIds).toHaveLength(20); // the first ones; the rest are in the 202 answer and the store
    expect(warnings[0]!.nodes).toEqual(nodesNamed(22).slice(2).map((n) => n.name));
  });
});

describe('resolved notifications', () => {
  it('cancel a queued triage of that alert, but not a running one', async () => {
    const { svc, rec } = await service({ triage: { maxConcurrent: 1 } }, { manual: true });
    const r = await receive(svc, [{ labels: { instance: 'node-1' } }, { labels: { instance: 'node-2' } }]);
    await waitFor('node-1 to run', () => rec.running === 1);
    const [running, queued] = r.triages;
    const resolved = await receive(svc, [
      { labels: { instance: 'node-1' }, status: 'resolved' },
      { labels: { instance: 'node-2' }, status: 'resolved' },
    ]);
    expect(resolved.triages).toEqual([]);
    expect(resolved.ignored.map((i) => i.reason)).toEqual([
      'resolved: no queued triage of node node-1 to cancel',
      `resolved: cancelled queued triage ${queued!.id} of node node-2`,
    ]);
    expect(await svc.getTriage(queued!.id)).toMatchObject({
      status: 'failed',
      verdict: { kind: 'failed', failure: { code: 'cancelled', message: 'cancelled: the alert resolved before the triage started' } },
    });
    rec.release();
    await svc.dispatcher.idle();
    expect((await svc.getTriage(running!.id))!.status).toBe('done');
    expect(rec.stats.calls.map((c) => c.node)).toEqual(['node-1']);
  });

  it('tell the notifier', async () => {
    const dir = tempDir('pft-dispatch-');
    cleanups.push(dir.remove);
    const events: string[] = [];
    const svc = await createService(testConfig(dir.path), {
      triage: recordingTriage().triage,
      render: fakeRender,
      log: silentLog,
      notifier: {
        triageStarted: async (t) => void events.push(`started ${t.node} ${(await svc.getTriage(t.id))!.status}`),
        triageFinished: async ({ view: t, reportUrl: url }) => void events.push(`finished ${t.node} ${t.status} ${t.verdict?.kind} ${url === null ? 'no-report' : 'report'}`),
        alertResolved: async (a) => void events.push(`resolved ${a.node} resolved ${a.cancelled.length}`),
      },
    });
    cleanups.push(() => svc.close(1));
    await receive(svc, [{ labels: { instance: 'node-1' } }]);
    await svc.dispatcher.idle();
    await receive(svc, [{ labels: { instance: 'node-1' }, status: 'resolved' }]);
    await waitFor('the resolved event', () => events.length === 3);
    expect(events).toEqual(['started node-1 running', 'finished node-1 done quiet report', 'resolved node-1 resolved 0']);
  });
});

describe('a verdict is stored before it is notified, and a failing notifier fails nothing', () => {
  it('stores then notifies', async () => {
    const dir = tempDir('pft-dispatch-');
    cleanups.push(dir.remove);
    let seenByNotifier: unknown;
    let svc: Service | undefined = undefined;
    svc = await createService(testConfig(dir.path), {
      triage: recordingTriage().triage,
      render: fakeRender,
      log: silentLog,
      notifier: {
        triageStarted: async () => {
          throw new Error('slack is down');
        },
        triageFinished: async ({ view: t }) => {
          seenByNotifier = await svc!.getTriage(t.id);
          throw new Error('slack is down');
        },
        alertResolved: async () => {},
      },
    });
    cleanups.push(() => svc!.close(1));
    const id = (await svc.requestTriage('node-1', { kind: 'cli' })).id;
    await svc.dispatcher.idle();
    expect(seenByNotifier).toMatchObject({ id, status: 'done', verdict: { kind: 'quiet' }, reportUrl: expect.stringMatching(new RegExp(`/reports/${id}$`)) });
  });

  it('an engine that throws anyway still ends in a stored failed verdict with a report', async () => {
    const dir = tempDir('pft-dispatch-');
    cleanups.push(dir.remove);
    const svc = await createService(testConfig(dir.path), {
      triage: async () => {
        throw new Error('boom');
      },
      render: fakeRender,
      log: silentLog,
    });
    cleanups.push(() => svc.close(1));
    const id = (await svc.requestTriage('node-1', { kind: 'cli' })).id;
    await svc.dispatcher.idle();
    expect(await svc.getTriage(id)).toMatchObject({ status: 'failed', verdict: { kind: 'failed', summary: 'the triage crashed: boom', failure: { code: 'internal' } } });
    expect((await svc.getReport(id))?.markdown).toContain('the triage crashed: boom');
  });
});

describe('metrics of finished triages', () => {
  it('count triages by trigger and verdict, and SSH failures by reason for SSH nodes only', async () => {
    const dir = tempDir('pft-dispatch-');
    cleanups.push(dir.remove);
    const ssh = { host: '192.0.2.7', user: 'triage', privateKeyPath: '/nonexistent/key', hostKey: `SHA256:${'A'.repeat(43)}` };
    const config = testConfig(dir.path, { nodes: [{ name: 'remote', ssh }, { name: 'local', local: true }] });
    const svc = await createService(config, {
      triage: async (_c, node, trigger) => {
        const v = verdictOf('failed', `host key mismatch on ${node.name}`);
        return fakeResult(node, trigger, { ...v, failure: { code: 'host_key_mismatch', message: v.summary, retryable: false } });
      },
      render: fakeRender,
      log: silentLog,
    });
    cleanups.push(() => svc.close(1));
    const remote = (await svc.requestTriage('remote', { kind: 'slack', user: 'U1', channel: 'C1' })).id;
    await svc.requestTriage('local', { kind: 'cli' });
    await svc.dispatcher.idle();
    expect(await svc.getTriage(remote)).toMatchObject({ status: 'failed', verdict: { kind: 'failed', failure: { code: 'host_key_mismatch' } } });
    const text = await svc.metrics.registry.metrics();
    expect(text).toContain('pagefault_triage_ssh_failures_total{reason="host_key_mismatch"} 1');
    expect(text).toContain('pagefault_triage_triages_total{trigger="slack",verdict="failed"} 1');
    expect(text).toContain('pagefault_triage_triages_total{trigger="cli",verdict="failed"} 1');
  });
});
