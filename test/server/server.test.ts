import { afterEach, describe, expect, it } from 'vitest';
import { checkExposure, isLoopbackHost, startServer, type RunningServer } from '../../src/server/server.js';
import { fakeRender, nodesNamed, recordingTriage, tempDir, testConfig, webhook, type AlertSpec } from '../support/service.js';

const TOKEN = 'test-token-0123456789abcdef';
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
const json = async (r: Response | Promise<Response>): Promise<any> => (await r).json();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('exposure', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['::1', true],
    ['[::1]', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.5', false],
    ['bot.example', false],
  ])('%s is loopback: %s', (host, loopback) => expect(isLoopbackHost(host)).toBe(loopback));

  it('refuses to start on a non-loopback host without server.webhookToken', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const config = testConfig(dir.path, { server: { host: '0.0.0.0' } });
    expect(() => checkExposure(config)).toThrow(/server.host is 0.0.0.0, which is not loopback: set server.webhookToken/);
    await expect(startServer(config, { logger: false, handleSignals: false, triage: recordingTriage().triage, render: fakeRender })).rejects.toMatchObject({ code: 'config_invalid' });
    expect(() => checkExposure(testConfig(dir.path, { server: { host: '0.0.0.0', webhookToken: TOKEN } }))).not.toThrow();
  });
});

describe('a listening server', () => {
  async function serve(over: Parameters<typeof testConfig>[1], triage = recordingTriage()) {
    const dir = tempDir();
    const server = await startServer(testConfig(dir.path, over), { logger: false, handleSignals: false, triage: triage.triage, render: fakeRender });
    cleanups.push(dir.remove, () => server.close());
    return { server, triage };
  }

  const postAlerts = (s: RunningServer, alerts: AlertSpec[]) =>
    fetch(`${s.url}/alerts`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(webhook(alerts)) });

  it('reports links under its real address when server.publicUrl is not set', async () => {
    const { server } = await serve({ server: { webhookToken: TOKEN } });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const id = (await json(postAlerts(server, [{ labels: { instance: 'local' } }]))).triages[0].id;
    await server.service.dispatcher.idle();
    const t = await json(fetch(`${server.url}/triages/${id}`));
    expect(t.reportUrl).toBe(`${server.url}/reports/${id}`);
    expect((await fetch(t.reportUrl)).status).toBe(200);
  });

  it('answers one webhook of 200 alerts across 50 nodes in under a second, and the limits hold while they run', async () => {
    const triage = recordingTriage({ ms: 25 });
    const { server } = await serve({ nodes: nodesNamed(50), server: { webhookToken: TOKEN }, triage: { cooldownSeconds: 0, maxConcurrent: 8 } }, triage);
    const alerts: AlertSpec[] = [];
    for (let n = 1; n <= 50; n++) for (const job of ['node', 'node-exporter', 'node-a', 'node-b']) alerts.push({ labels: { instance: `node-${n}:9100`, job } });
    expect(alerts).toHaveLength(200);

    const t0 = performance.now();
    const res = await postAlerts(server, alerts);
    const body = await json(res);
    const ms = performance.now() - t0;
    expect(res.status).toBe(202);
    expect(ms).toBeLessThan(1000);
    expect(body.triages).toHaveLength(200);
    expect(new Set(body.triages.map((t: { id: string }) => t.id)).size).toBe(200);
    expect(body.triages.every((t: { status: string }) => t.status === 'queued')).toBe(true);
    // Answered before the triages ran: at most the first wave can have started.
    expect(triage.stats.calls.length).toBeLessThanOrEqual(8);

    await server.service.dispatcher.idle();
    expect(triage.stats.calls).toHaveLength(200);
    expect(triage.stats.maxPerNode).toBe(1);
    expect(triage.stats.maxRunning).toBe(8);
    const done = await server.service.listTriages({ limit: 500 });
    expect(done.filter((t) => t.status === 'done')).toHaveLength(200);
  });

  it('with the default cooldown, the same webhook gives one triage per node and says why for the rest', async () => {
    const triage = recordingTriage({ ms: 5 });
    const { server } = await serve({ nodes: nodesNamed(50), server: { webhookToken: TOKEN }, triage: { cooldownSeconds: 600, maxConcurrent: 8 } }, triage);
    const alerts: AlertSpec[] = [];
    for (let n = 1; n <= 50; n++) for (const job of ['node', 'node-exporter', 'node-a', 'node-b']) alerts.push({ labels: { instance: `node-${n}:9100`, job } });
    const t0 = performance.now();
    const body = await json(postAlerts(server, alerts));
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(body.triages).toHaveLength(50);
    expect(body.ignored).toHaveLength(150);
    expect(body.ignored.every((i: { reason: string }) => /^node node-\d+ is in cooldown/.test(i.reason))).toBe(true);
    await server.service.dispatcher.idle();
    expect(triage.stats.calls).toHaveLength(50);
    expect(triage.stats.maxRunning).toBe(8);
  });
});
