/**
 * The hour before the alert, through the whole service: context.prometheus in GET /triages/:id, a section and a
 * chart in the report, a line in the Slack verdict; and a Prometheus that is down, slow or answering an error
 * never holds the triage up. Real Prometheus and node exporter (Debian) for the success case; no fault
 * generator runs here (the real-fault case is test/context/prometheus-history.test.ts).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { configSchema } from '../../src/config/schema.js';
import type { TriageOutcome } from '../../src/model/triage.js';
import { renderReport } from '../../src/report/markdown.js';
import { verdictMessage } from '../../src/report/slack/messages.js';
import type { Service } from '../../src/service.js';
import { blockTexts } from '../slack/helpers.js';
import { freePort } from '../support/alertmanager.js';
import { startPrometheus, startPrometheusStandin, type PrometheusStack } from '../support/prometheus.js';
import { buildApp, recordingTriage, tempDir, waitFor, webhook } from '../support/service.js';

const ENGINE_MS = 1000;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setUp(prometheus: Record<string, unknown>, instance = 'node-1:9100'): Promise<{ app: FastifyInstance; service: Service; outcomes: TriageOutcome[] }> {
  const dir = tempDir('pft-prom-svc-');
  const outcomes: TriageOutcome[] = [];
  const config = configSchema.parse({
    server: { host: '127.0.0.1', port: 0 },
    storage: { path: dir.path },
    playbook: { sampleSeconds: 1, captureSeconds: 1 },
    prometheus,
    nodes: [{ name: 'node-1', local: true, match: { instance } }],
  });
  const built = await buildApp(config, {
    triage: recordingTriage({ ms: ENGINE_MS }).triage,
    render: renderReport,
    notifier: { triageStarted: async () => {}, triageFinished: async (o) => void outcomes.push(o), alertResolved: async () => {} },
  });
  cleanups.push(dir.remove, () => built.app.close());
  return { ...built, outcomes };
}

/** Fires the alert for `instance`, waits for the triage, and says how long it took from the webhook. */
async function alertAndWait(app: FastifyInstance, service: Service, instance: string): Promise<{ id: string; seconds: number }> {
  const t0 = Date.now();
  const res = await app.inject({ method: 'POST', url: '/alerts', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(webhook([{ labels: { instance, job: 'node' } }])) });
  expect(res.statusCode).toBe(202);
  const id = res.json().triages[0].id as string;
  await waitFor('the triage to finish', async () => (await service.getTriage(id))?.status === 'done', 20_000);
  return { id, seconds: (Date.now() - t0) / 1000 };
}

describe('Prometheus unavailable: the triage finishes in its usual time and says which', () => {
  it.each([
    { name: 'a closed port', code: 'unreachable', start: async () => ({ url: `http://127.0.0.1:${await freePort()}`, stop: async () => {} }) },
    { name: 'a Prometheus that answers after 10 s', code: 'timeout', start: () => startPrometheusStandin({ delayMs: 10_000 }) },
    {
      name: 'a Prometheus answering {"status":"error"}',
      code: 'prometheus_error',
      start: () => startPrometheusStandin({ status: 422, body: { status: 'error', errorType: 'execution', error: 'query processing would load too many samples' } }),
    },
  ])('$name → $code', async ({ code, start }) => {
    const prom = await start();
    cleanups.push(() => prom.stop());
    const { app, service, outcomes } = await setUp({ url: prom.url, timeoutSeconds: 1 });
    const { id, seconds } = await alertAndWait(app, service, 'node-1:9100');
    // The engine takes 1 s and Prometheus gets 1 s beside it, not after it: well under 1 + 1 s plus slack.
    expect(seconds).toBeLessThan(ENGINE_MS / 1000 + 1 + 2);
    const ctx = (await app.inject({ url: `/triages/${id}` })).json().context;
    expect(ctx.prometheus.error.code).toBe(code);
    const md = (await app.inject({ url: `/reports/${id}.md` })).body;
    expect(md).toContain(`## Major faults before the triage\nPrometheus history unavailable (${code}):`);
    const slack = blockTexts(verdictMessage(outcomes[0]!, '/pagefault').blocks).mrkdwn.join('\n');
    expect(slack).toContain(`:chart_with_upwards_trend: Prometheus history unavailable (${code}):`);
  });

  it('without prometheus.url nothing is queried and nothing is said', async () => {
    const dir = tempDir('pft-prom-off-');
    cleanups.push(dir.remove);
    const { app, service } = await buildApp(configSchema.parse({ storage: { path: dir.path }, server: { port: 0 }, nodes: [{ name: 'node-1', local: true, match: { instance: 'n:1' } }] }), {
      triage: recordingTriage().triage,
      render: renderReport,
    });
    cleanups.push(() => app.close());
    const { id } = await alertAndWait(app, service, 'n:1');
    expect((await app.inject({ url: `/triages/${id}` })).json().context).toEqual({ history: [] });
    expect((await app.inject({ url: `/reports/${id}.md` })).body).not.toContain('before the triage');
  });
});

describe('real Prometheus scraping this machine', () => {
  let stack: PrometheusStack;
  beforeAll(async () => {
    stack = await startPrometheus();
  }, 90_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it("puts the node's series in the triage JSON, a section and a chart in the report, a line in Slack", async () => {
    // A few scrapes so the rate has points.
    await new Promise((r) => setTimeout(r, 6000));
    const { app, service, outcomes } = await setUp({ url: stack.url, lookbackMinutes: 2, rateWindowSeconds: 5, timeoutSeconds: 3 }, stack.instance);
    const { id } = await alertAndWait(app, service, stack.instance);
    const ctx = (await app.inject({ url: `/triages/${id}` })).json().context.prometheus;
    expect(ctx.error).toBeUndefined();
    expect(ctx.selector).toEqual({ instance: stack.instance, job: 'node' });
    const pg = ctx.series.find((s: { query: string }) => s.query === 'pgmajfault');
    expect(pg.points.length).toBeGreaterThan(2);
    const md = (await app.inject({ url: `/reports/${id}.md` })).body;
    expect(md).toMatch(/## Major faults before the triage\n(below|above|first above) 500\/s/);
    const page = (await app.inject({ url: `/reports/${id}` })).body;
    const section = page.slice(page.indexOf('<h2>Major faults before the triage'));
    expect(section.indexOf('<svg')).toBeGreaterThan(0);
    expect(section.indexOf('<svg')).toBeLessThan(section.indexOf('<h2', 5));
    const slack = blockTexts(verdictMessage(outcomes[0]!, '/pagefault').blocks).mrkdwn.join('\n');
    expect(slack).toMatch(/:chart_with_upwards_trend: (below|above|first above) 500\/s/);
  }, 60_000);
});
