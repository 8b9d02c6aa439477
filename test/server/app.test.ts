import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Service } from '../../src/service.js';
import { buildApp, recordingTriage, tempDir, testConfig, webhook } from '../support/service.js';

const TOKEN = 'test-token-0123456789abcdef';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function app(server: Record<string, unknown> = { webhookToken: TOKEN }, deps: Parameters<typeof buildApp>[1] = {}): Promise<{ app: FastifyInstance; service: Service }> {
  const dir = tempDir('pft-app-');
  const built = await buildApp(testConfig(dir.path, { server }), { triage: recordingTriage().triage, ...deps });
  cleanups.push(dir.remove, () => built.app.close());
  return built;
}

const post = (a: FastifyInstance, body: unknown, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) =>
  a.inject({ method: 'POST', url: '/alerts', headers: { 'content-type': 'application/json', ...headers }, payload: typeof body === 'string' ? body : JSON.stringify(body) });

const metric = async (a: FastifyInstance, line: string): Promise<number> => {
  const text = (await a.inject({ url: '/metrics' })).body;
  const m = new RegExp(`^${line.replace(/[{}"()]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`metric line ${line} not found`);
  return Number(m[1]);
};

describe('POST /alerts', () => {
  it('answers 202 with the triages and the ignored alerts', async () => {
    const { app: a } = await app();
    const res = await post(a, webhook([{ labels: { instance: 'localhost:9100' } }, { labels: { instance: 'nowhere:9100' } }, { labels: { alertname: 'Other', instance: 'local' } }]));
    expect(res.statusCode).toBe(202);
    const body = res.json();
    expect(body.triages).toEqual([{ id: expect.stringMatching(/^[\w-]{22}$/), node: 'local', fingerprint: expect.any(String), status: 'queued' }]);
    expect(body.ignored.map((i: { reason: string }) => i.reason)).toEqual([
      'no node in the inventory matches the alert (instance="nowhere:9100")',
      'alertname "Other" is not in triage.alertnames',
    ]);
    expect(await metric(a, 'pagefault_triage_webhooks_received_total{outcome="accepted"}')).toBe(1);
  });

  it('gives one triage for the same webhook posted five times', async () => {
    const { app: a, service } = await app();
    const body = webhook([{ labels: { instance: 'local' } }]);
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push((await post(a, body)).json());
    const ids = new Set(answers.map((r) => r.triages[0].id));
    expect(ids.size).toBe(1);
    expect(answers.map((r) => r.triages[0].status)).toEqual(['queued', 'duplicate', 'duplicate', 'duplicate', 'duplicate']);
    await service.dispatcher.idle();
    expect(await service.listTriages({ limit: 50 })).toHaveLength(1);
    expect(await metric(a, 'pagefault_triage_alerts_received_total{outcome="duplicate"}')).toBe(4);
  });

  it.each([
    ['no token', {}],
    ['a wrong token', { authorization: 'Bearer wrong-token-0123456789abcdef' }],
    ['a token of another length', { authorization: 'Bearer x' }],
    ['another scheme', { authorization: `Basic ${TOKEN}` }],
  ])('refuses %s with 401 and queues nothing', async (_what, headers) => {
    const { app: a, service } = await app();
    const res = await post(a, webhook([{ labels: { instance: 'local' } }]), headers);
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="pagefault-triage"');
    expect(res.json().error).toBe('unauthorized');
    expect(await service.listTriages({ limit: 10 })).toEqual([]);
    expect(service.dispatcher.queuedCount + service.dispatcher.runningCount).toBe(0);
    expect(await metric(a, 'pagefault_triage_webhooks_received_total{outcome="unauthorized"}')).toBe(1);
  });

  it('checks the token before reading the body', async () => {
    const { app: a } = await app();
    const res = await post(a, 'x'.repeat(2 * 1024 * 1024), {});
    expect(res.statusCode).toBe(401);
  });

  it('needs no token when none is configured (loopback)', async () => {
    const { app: a } = await app({});
    expect((await post(a, webhook([{ labels: { instance: 'local' } }]), {})).statusCode).toBe(202);
  });

  it('answers 400 naming the bad field, and queues nothing', async () => {
    const { app: a, service } = await app();
    const body = webhook([{ labels: { instance: 'local' } }, { labels: { instance: 'node-1' } }]);
    delete (body.alerts[1] as Record<string, unknown>).fingerprint;
    const res = await post(a, body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error: 'invalid webhook',
      message: 'alerts[1].fingerprint: Invalid input: expected string, received undefined',
      issues: [{ path: 'alerts[1].fingerprint', message: 'Invalid input: expected string, received undefined' }],
    });
    expect(await service.listTriages({ limit: 10 })).toEqual([]);
    const wrongVersion = await post(a, { ...webhook([]), version: '3' });
    expect(wrongVersion.statusCode).toBe(400);
    expect(wrongVersion.json().message).toBe('version: only webhook version "4" is supported');
    const notJson = await post(a, '{"version": "4",');
    expect(notJson.statusCode).toBe(400);
    expect(await metric(a, 'pagefault_triage_webhooks_received_total{outcome="invalid"}')).toBe(3);
  });

  it('answers 413 for a body over server.bodyLimitBytes', async () => {
    const { app: a, service } = await app({ webhookToken: TOKEN, bodyLimitBytes: 64 * 1024 });
    const alerts = Array.from({ length: 400 }, (_, i) => ({ labels: { instance: 'local', padding: 'p'.repeat(200), n: String(i) } }));
    const res = await post(a, webhook(alerts));
    expect(res.statusCode).toBe(413);
    expect(res.json().message).toBe('the body is over server.bodyLimitBytes (65536 bytes)');
    expect(await service.listTriages({ limit: 10 })).toEqual([]);
    expect(await metric(a, 'pagefault_triage_webhooks_received_total{outcome="too_large"}')).toBe(1);
  });

  it('answers 503 while shutting down, so Alertmanager retries elsewhere or later', async () => {
    const { app: a, service } = await app();
    await service.close(0);
    const res = await post(a, webhook([{ labels: { instance: 'local' } }]));
    expect(res.statusCode).toBe(503);
    expect((await a.inject({ url: '/-/ready' })).statusCode).toBe(503);
    expect((await a.inject({ url: '/-/healthy' })).statusCode).toBe(200);
  });
});

describe('GET /triages', () => {
  it('returns one triage as the design says, and lists newest first', async () => {
    const { app: a, service } = await app();
    const first = (await post(a, webhook([{ labels: { instance: 'local' } }]))).json().triages[0];
    const second = (await post(a, webhook([{ labels: { instance: 'node-1' } }]))).json().triages[0];
    await service.dispatcher.idle();
    const one = (await a.inject({ url: `/triages/${first.id}` })).json();
    expect(Object.keys(one).sort()).toEqual(['context', 'createdAt', 'finishedAt', 'id', 'node', 'reportUrl', 'startedAt', 'status', 'trigger', 'verdict']);
    expect(one).toMatchObject({ id: first.id, node: 'local', status: 'done', trigger: { kind: 'alert', fingerprint: first.fingerprint }, verdict: { kind: 'quiet' } });
    expect(one.reportUrl).toBe(`http://127.0.0.1:0/reports/${first.id}`);
    const list = (await a.inject({ url: '/triages' })).json().triages;
    expect(list.map((t: { id: string }) => t.id)).toEqual([second.id, first.id]);
    expect((await a.inject({ url: '/triages?node=local&limit=5' })).json().triages.map((t: { id: string }) => t.id)).toEqual([first.id]);
    expect((await a.inject({ url: '/triages?limit=1' })).json().triages).toHaveLength(1);
  });

  it('404s unknown ids and 400s a bad limit', async () => {
    const { app: a } = await app();
    expect((await a.inject({ url: '/triages/AAAAAAAAAAAAAAAAAAAAAA' })).statusCode).toBe(404);
    expect((await a.inject({ url: '/triages/../etc' })).statusCode).toBe(404);
    const bad = await a.inject({ url: '/triages?limit=0' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/^limit: /);
  });
});

describe('GET /reports', () => {
  const hostile = [
    '# local: mmap reads of /data/x by pid 42 (reader)',
    '',
    '<script>alert(1)</script>',
    '',
    'inline <img src=x onerror=alert(2)> and [a link](javascript:alert(3)) and [ok](https://example.org/x)',
    '',
    '| pid | process |',
    '|---:|---|',
    '| 42 | reader |',
    '',
    '```',
    'perf record -e major-faults -c 1 -d',
    '```',
  ].join('\n');

  it('serves the Markdown and an HTML page in which raw HTML does not pass through', async () => {
    const { app: a, service } = await app(undefined, { render: () => hostile });
    const id = (await service.requestTriage('local', { kind: 'cli' })).id;
    await service.dispatcher.idle();
    const md = await a.inject({ url: `/reports/${id}.md` });
    expect(md.statusCode).toBe(200);
    expect(md.headers['content-type']).toBe('text/markdown; charset=utf-8');
    expect(md.body).toBe(hostile);

    const page = await a.inject({ url: `/reports/${id}` });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    const html = page.body;
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toMatch(/<img/);
    expect(html).not.toContain('javascript:');
    expect(html).toContain('<a href="https://example.org/x" rel="noopener noreferrer">ok</a>');
    expect(html).toContain('<div class="table-wrap"><table>');
    expect(html).toContain('<pre><code>perf record -e major-faults -c 1 -d');
    expect(html).toContain('<title>local: no major faults on local during the 1 s window · pagefault-triage</title>');
    expect(html).toContain(`href="${id}.md"`);
  });

  it('404s a triage without a report, saying why', async () => {
    const { app: a, service } = await app(undefined, { triage: recordingTriage({ manual: true }).triage });
    const id = (await service.requestTriage('local', { kind: 'cli' })).id;
    const res = await a.inject({ url: `/reports/${id}` });
    expect(res.statusCode).toBe(404);
    expect(res.body).toMatch(new RegExp(`^triage ${id} has no report \\(it is (queued|running)\\)`));
    expect((await a.inject({ url: '/reports/nope.md' })).statusCode).toBe(404);
  });
});

describe('metrics and health', () => {
  it('exports the service metrics in Prometheus text format', async () => {
    const { app: a, service } = await app();
    await post(a, webhook([{ labels: { instance: 'local' } }]));
    await service.dispatcher.idle();
    const res = await a.inject({ url: '/metrics' });
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0.0.4/);
    for (const name of [
      'pagefault_triage_webhooks_received_total{outcome="accepted"} 1',
      'pagefault_triage_triages_total{trigger="alert",verdict="quiet"} 1',
      'pagefault_triage_triage_duration_seconds_count{trigger="alert"} 1',
      'pagefault_triage_queue_depth 0',
      'pagefault_triage_triages_running 0',
      'pagefault_triage_ssh_failures_total{reason="host_key_mismatch"} 0',
    ]) {
      expect(res.body).toContain(name);
    }
  });

  it('is healthy and ready', async () => {
    const { app: a } = await app();
    expect((await a.inject({ url: '/-/healthy' })).body).toBe('OK\n');
    expect((await a.inject({ url: '/-/ready' })).statusCode).toBe(200);
  });
});
