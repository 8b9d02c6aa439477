/**
 * Limits (SECURITY.md): request rate limits on POST /alerts and /slack/*, header and body timeouts, the
 * queued-triage cap, and the cap on evidence stored per triage. Flooding happens on loopback, in bounded loops.
 */
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { startServer, type RunningServer } from '../../src/server/server.js';
import type { TriageFn } from '../../src/service.js';
import { capEvidence, capReport } from '../../src/store/evidence-cap.js';
import { buildApp, fakeRender, fakeResult, nodesNamed, recordingTriage, tempDir, testConfig, webhook, type AlertSpec } from '../support/service.js';

const TOKEN = 'test-token-0123456789abcdef';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(over: Parameters<typeof testConfig>[1], triage = recordingTriage()): Promise<RunningServer> {
  const dir = tempDir('pft-limits-');
  const server = await startServer(testConfig(dir.path, over), { logger: false, handleSignals: false, triage: triage.triage, render: fakeRender });
  cleanups.push(dir.remove, () => server.close());
  return server;
}

async function app(over: Parameters<typeof testConfig>[1], triage: TriageFn = recordingTriage().triage): Promise<FastifyInstance & { svc: Awaited<ReturnType<typeof buildApp>>['service'] }> {
  const dir = tempDir('pft-limits-');
  const built = await buildApp(testConfig(dir.path, over), { triage });
  cleanups.push(dir.remove, () => built.app.close());
  return Object.assign(built.app, { svc: built.service });
}

const alertBody = (alerts: AlertSpec[]) => JSON.stringify(webhook(alerts));

describe('request rate limits', () => {
  it('answers a flood of webhooks with the token past the limit with 503 and Retry-After, and keeps serving everything else', async () => {
    const server = await serve({ server: { webhookToken: TOKEN, rateLimit: { windowSeconds: 60, alerts: 20, slack: 5 } } });
    const post = () =>
      fetch(`${server.url}/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: alertBody([{ labels: { instance: 'local' } }]),
      });
    const statuses: number[] = [];
    const healthMs: number[] = [];
    let retryAfter: string | null = null;
    let body503: unknown;
    // 400 webhooks, 20 at a time, with a health check after each wave.
    for (let wave = 0; wave < 20; wave++) {
      const answers = await Promise.all(Array.from({ length: 20 }, post));
      for (const a of answers) {
        statuses.push(a.status);
        if (a.status === 503) {
          retryAfter = a.headers.get('retry-after');
          body503 = await a.json();
        } else await a.arrayBuffer();
      }
      const t0 = performance.now();
      const health = await fetch(`${server.url}/-/healthy`);
      healthMs.push(performance.now() - t0);
      expect(health.status).toBe(200);
    }
    expect(statuses.filter((s) => s === 202)).toHaveLength(20);
    expect(statuses.filter((s) => s === 503)).toHaveLength(380);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(retryAfter)).toBeLessThanOrEqual(60);
    expect(body503).toEqual({ error: 'busy', message: expect.stringMatching(/^more than 20 requests in 60 s from this address; try again in \d+ s$/) });
    console.log(`[limits] 400 webhooks: 20 accepted, 380 refused with 503; /-/healthy answered in at most ${Math.max(...healthMs).toFixed(0)} ms`);
    expect(Math.max(...healthMs)).toBeLessThan(1000);

    // The flood triaged the node once, and the rest of the API still answers.
    await server.service.dispatcher.idle();
    expect(await server.service.listTriages({ limit: 50 })).toHaveLength(1);
    expect((await fetch(`${server.url}/triages`)).status).toBe(200);
    expect((await fetch(`${server.url}/-/ready`)).status).toBe(200);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('pagefault_triage_http_rate_limited_total{route="alerts"} 380');
  });

  it('limits unauthenticated floods too, before the token is checked', async () => {
    const a = await app({ server: { webhookToken: TOKEN, rateLimit: { windowSeconds: 60, alerts: 100, unauthorized: 3, slack: 3 } } });
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) {
      codes.push((await a.inject({ method: 'POST', url: '/alerts', headers: { 'content-type': 'application/json', authorization: 'Bearer wrong' }, payload: '{}' })).statusCode);
    }
    expect(codes).toEqual([401, 401, 401, 429, 429, 429]);
    expect(await (await a.inject({ url: '/metrics' })).body).toContain('pagefault_triage_http_rate_limited_total{route="alerts_unauthorized"} 3');
  });

  it('a flood without the token from a shared address never limits the webhook with it (202, not 429)', async () => {
    const a = await app({ server: { webhookToken: TOKEN, rateLimit: { windowSeconds: 60, alerts: 5, unauthorized: 3, slack: 3 } } });
    const shared = '10.0.0.9'; // same host, NAT or proxy: Alertmanager and the junk share an address
    const post = (authorization?: string) =>
      a.inject({
        method: 'POST',
        url: '/alerts',
        remoteAddress: shared,
        headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
        payload: alertBody([{ labels: { instance: 'local' } }]),
      });
    const junk: number[] = [];
    for (let i = 0; i < 40; i++) junk.push((await post(i % 2 === 0 ? undefined : 'Bearer wrong-token-0123456789')).statusCode);
    expect(junk.slice(0, 3)).toEqual([401, 401, 401]);
    expect(new Set(junk.slice(3))).toEqual(new Set([429]));
    // Alertmanager's real notification, from the same address, right after: accepted.
    expect((await post(`Bearer ${TOKEN}`)).statusCode).toBe(202);
  });

  it('never answers the token holder 429 (final for Alertmanager): past its own limit it gets 503 + Retry-After, which Alertmanager retries', async () => {
    const a = await app({ server: { webhookToken: TOKEN, rateLimit: { windowSeconds: 60, alerts: 2, unauthorized: 2, slack: 2 } } });
    const codes: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 4; i++) {
      const res = await a.inject({ method: 'POST', url: '/alerts', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, payload: alertBody([{ labels: { instance: 'local' } }]) });
      codes.push(res.statusCode);
      if (res.statusCode === 503) retryAfter = res.headers['retry-after'] as string;
    }
    expect(codes).toEqual([202, 202, 503, 503]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  });

  it('counts per client address: another sender is not limited by the first one', async () => {
    const a = await app({ server: { rateLimit: { windowSeconds: 60, alerts: 2, slack: 2 } } });
    const post = (remoteAddress: string) =>
      a.inject({ method: 'POST', url: '/alerts', remoteAddress, headers: { 'content-type': 'application/json' }, payload: alertBody([{ labels: { instance: 'local' } }]) });
    expect([(await post('10.0.0.7')).statusCode, (await post('10.0.0.7')).statusCode, (await post('10.0.0.7')).statusCode]).toEqual([202, 202, 503]);
    expect((await post('10.0.0.8')).statusCode).toBe(202);
  });

  it('limits every route under /slack/, whoever registers it, and nothing else', async () => {
    const a = await app({ server: { rateLimit: { windowSeconds: 60, alerts: 100, slack: 4 } } });
    const codes: number[] = [];
    for (let i = 0; i < 8; i++) {
      const url = i % 2 === 0 ? '/slack/commands' : '/slack/interactions';
      const res = await a.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'text=node-1' });
      codes.push(res.statusCode);
      if (res.statusCode === 429) expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    // Whatever the Slack routes answer (200, 401 for a bad signature, 404 before they exist), the fifth is 429.
    expect(codes.slice(0, 4).every((c) => c !== 429)).toBe(true);
    expect(codes.slice(4)).toEqual([429, 429, 429, 429]);
    for (let i = 0; i < 10; i++) expect((await a.inject({ url: '/-/healthy' })).statusCode).toBe(200);
    for (let i = 0; i < 10; i++) expect((await a.inject({ url: '/triages' })).statusCode).toBe(200);
  });
});

describe('header and body timeouts', () => {
  /** Opens a raw connection, writes `text`, and resolves with what the server sent and when it closed. */
  function slowClient(url: string, text: string): Promise<{ ms: number; received: string }> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      const sock = net.connect({ host: hostname, port: Number(port) }, () => sock.write(text));
      let received = '';
      sock.on('data', (d) => (received += d.toString('latin1')));
      sock.on('error', () => {});
      sock.on('close', () => resolve({ ms: performance.now() - t0, received }));
      setTimeout(() => {
        sock.destroy();
        reject(new Error('the server kept a slow connection open for 15 s'));
      }, 15_000).unref();
    });
  }

  it('closes a connection whose headers never finish, and one whose body never finishes, while serving others', async () => {
    const server = await serve({ server: { headersTimeoutSeconds: 1, requestTimeoutSeconds: 2, keepAliveTimeoutSeconds: 1 } });
    const headers = slowClient(server.url, 'POST /alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n');
    const body = slowClient(server.url, 'POST /alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"version":');
    // Meanwhile the server answers normal requests.
    for (let i = 0; i < 5; i++) expect((await fetch(`${server.url}/-/healthy`)).status).toBe(200);
    const [h, b] = await Promise.all([headers, body]);
    console.log(`[limits] slow headers closed after ${h.ms.toFixed(0)} ms, slow body after ${b.ms.toFixed(0)} ms`);
    expect(h.ms).toBeGreaterThanOrEqual(900);
    expect(h.ms).toBeLessThan(3500);
    expect(h.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(b.ms).toBeGreaterThanOrEqual(1900);
    expect(b.ms).toBeLessThan(4500);
    expect(b.received === '' || /^HTTP\/1\.1 408 /.test(b.received)).toBe(true);
    expect(await server.service.listTriages({ limit: 10 })).toEqual([]);
  });
});

describe('the queued-triage cap', () => {
  it('answers and records every alert past triage.maxQueued as dropped, with the reason', async () => {
    const triage = recordingTriage({ manual: true });
    const a = await app({ nodes: nodesNamed(8), triage: { maxConcurrent: 1, maxQueued: 2, cooldownSeconds: 0 } }, triage.triage);
    const alerts = Array.from({ length: 8 }, (_, i) => ({ labels: { instance: `node-${i + 1}:9100` } }));
    const res = await a.inject({ method: 'POST', url: '/alerts', headers: { 'content-type': 'application/json' }, payload: alertBody(alerts) });
    expect(res.statusCode).toBe(202);
    const body = res.json() as { triages: { id: string; status: string }[]; ignored: { fingerprint: string; reason: string }[] };
    expect(body.triages).toHaveLength(2);
    expect(body.ignored).toHaveLength(6);
    for (const d of body.ignored) {
      const id = /recorded as failed triage ([\w-]{22})$/.exec(d.reason)?.[1];
      expect(d.reason).toMatch(/^the queue is full \(triage\.maxQueued = 2\)/);
      const stored = (await a.inject({ url: `/triages/${id}` })).json();
      expect(stored).toMatchObject({ status: 'failed', verdict: { kind: 'failed', failure: { code: 'queue_full', retryable: true } } });
      expect(stored.verdict.summary).toMatch(/^dropped: the queue is full/);
    }
    const metrics = (await a.inject({ url: '/metrics' })).body;
    expect(metrics).toContain('pagefault_triage_alerts_received_total{outcome="dropped"} 6');
    // A dropped alert is not a duplicate: Alertmanager's next notification gets a triage once there is room.
    const drain = async () => {
      for (let i = 0; i < 200 && a.svc.dispatcher.queuedCount + a.svc.dispatcher.runningCount > 0; i++) {
        triage.release();
        await new Promise((r) => setTimeout(r, 10));
      }
      await a.svc.dispatcher.idle();
    };
    await drain();
    const again = await a.inject({ method: 'POST', url: '/alerts', headers: { 'content-type': 'application/json' }, payload: alertBody(alerts.slice(2, 4)) });
    expect((again.json() as { triages: { status: string }[] }).triages.map((t) => t.status)).toEqual(['queued', 'queued']);
    await drain();
  });
});

describe('the cap on evidence stored per triage', () => {
  const mapping = (i: number) => ({ label: `/data/file-${i}.bin`, path: `/data/file-${i}.bin`, kind: 'file', faults: 1000 - (i % 1000), share: 0.001 });

  it('trims the largest lists first and says what it cut', () => {
    const evidence = { node: 'n', verdict: { kind: 'mmap-read', summary: 's' }, analysis: { mappings: Array.from({ length: 50_000 }, (_, i) => mapping(i)), processes: [{ pid: 1 }] } };
    const { json, trim } = capEvidence(evidence, 256 * 1024);
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(256 * 1024);
    const stored = JSON.parse(json);
    expect(stored.verdict).toEqual(evidence.verdict);
    expect(stored.analysis.processes).toEqual([{ pid: 1 }]);
    expect(stored.analysis.mappings[0]).toEqual(mapping(0)); // the head of the list is kept
    expect(stored.evidenceTrimmed).toEqual(trim);
    expect(trim).toMatchObject({ limitBytes: 256 * 1024, summaryOnly: false, cuts: [expect.stringMatching(/^analysis\.mappings: kept \d+ of 50000$/)] });
    expect(trim!.originalBytes).toBeGreaterThan(256 * 1024);
  });

  it('cuts huge strings, and keeps only the verdict when nothing else fits', () => {
    const huge = 'x'.repeat(1024 * 1024);
    const { json, trim } = capEvidence({ node: 'n', verdict: { summary: 'v' }, nodeInfo: { hostname: huge } }, 64 * 1024);
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(64 * 1024);
    expect(trim?.cuts).toEqual(['nodeInfo.hostname: cut to 4096 characters']);
    const many = { node: 'n', verdict: { summary: 'v' }, analysis: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, 'y'.repeat(4000)])) };
    const small = capEvidence(many, 64 * 1024);
    expect(Buffer.byteLength(small.json)).toBeLessThanOrEqual(64 * 1024);
    expect(small.trim?.summaryOnly).toBe(true);
    expect(JSON.parse(small.json)).toMatchObject({ node: 'n', verdict: { summary: 'v' }, analysis: null });
  });

  it('leaves evidence under the cap untouched', () => {
    const e = { node: 'n', analysis: { mappings: [mapping(1)] } };
    expect(capEvidence(e, 64 * 1024)).toEqual({ json: JSON.stringify(e), trim: null });
    expect(capReport('# short\n', 64 * 1024)).toEqual({ markdown: '# short\n', cut: false });
  });

  it('the service stores at most storage.maxEvidenceBytes of evidence and of report per triage', async () => {
    const limit = 64 * 1024;
    const dir = tempDir('pft-limits-');
    const triage: TriageFn = async (_c, node, trigger) => {
      const r = fakeResult(node, trigger);
      return { ...r, analysis: { mappings: Array.from({ length: 20_000 }, (_, i) => mapping(i)) } as unknown as NonNullable<typeof r.analysis> };
    };
    const built = await buildApp(testConfig(dir.path, { }), { triage, render: () => `# big\n\n${'| row | x |\n'.repeat(20_000)}` });
    cleanups.push(dir.remove, () => built.app.close());
    // testConfig has no storage knob for this: set it on the parsed config.
    (built.service.config.storage as { maxEvidenceBytes: number }).maxEvidenceBytes = limit;
    const { id } = await built.service.requestTriage('local', { kind: 'cli' });
    await built.service.dispatcher.idle();
    const raw = (await built.service.store.result(id))!;
    expect(Buffer.byteLength(raw)).toBeLessThanOrEqual(limit);
    expect(JSON.parse(raw).evidenceTrimmed.cuts[0]).toMatch(/^analysis\.mappings: kept \d+ of 20000$/);
    const md = (await built.app.inject({ url: `/reports/${id}.md` })).body;
    expect(Buffer.byteLength(md)).toBeLessThanOrEqual(limit);
    expect(md).toMatch(/> This report was cut: it was \d+ bytes, over storage\.maxEvidenceBytes \(65536\)\.\n$/);
  });
});
