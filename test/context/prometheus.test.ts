// Real Prometheus and node exporter (Debian packages) on loopback; no fault generators run here.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type Config, type NodeConfig } from '../../src/config/schema.js';
import { promqlString } from '../../src/context/promql.js';
import { fetchPrometheusContext } from '../../src/context/prometheus.js';
import { isPrometheusFailure, prometheusContextSchema, type PrometheusContext, type PrometheusHistory } from '../../src/model/prometheus-context.js';
import type { Trigger } from '../../src/model/triage.js';
import { freePort } from '../support/alertmanager.js';
import { startPrometheus, startPrometheusStandin, type PrometheusStack } from '../support/prometheus.js';

const INJECTION = 'x"} or vector(1) or {a="';

function configWith(prometheus: Record<string, unknown> | undefined, node: Record<string, unknown> = {}): Config {
  return configSchema.parse({ nodes: [{ name: 'local', local: true, ...node }], ...(prometheus ? { prometheus } : {}) });
}
const nodeOf = (c: Config): NodeConfig => c.nodes[0]!;

function alert(labels: Record<string, string>): Trigger {
  return { kind: 'alert', alertname: 'NodeMemoryMajorPagesFaults', fingerprint: 'c0ffee0000000001', startsAt: new Date().toISOString(), labels, annotations: {} };
}

function history(c: PrometheusContext | null): PrometheusHistory {
  expect(c).not.toBeNull();
  if (isPrometheusFailure(c!)) throw new Error(`expected history, got ${c!.error.code}: ${c!.error.message}`);
  return c!;
}

/** Runs the fetch and times it; the context always validates against its schema. */
async function timedFetch(config: Config, trigger: Trigger, signal?: AbortSignal) {
  const t0 = performance.now();
  const ctx = await fetchPrometheusContext(config, nodeOf(config), trigger, signal ? { signal } : {});
  const ms = performance.now() - t0;
  if (ctx) prometheusContextSchema.parse(ctx);
  return { ctx, ms };
}

/** A failure is reported, with this code, within the time limit and a second of slack for a loaded machine. */
async function expectFailure(config: Config, trigger: Trigger, code: string, message: RegExp) {
  const { ctx, ms } = await timedFetch(config, trigger);
  expect(ctx).not.toBeNull();
  expect(isPrometheusFailure(ctx!), JSON.stringify(ctx).slice(0, 300)).toBe(true);
  if (!isPrometheusFailure(ctx!)) return;
  expect(ctx.error.code).toBe(code);
  expect(ctx.error.message).toMatch(message);
  expect(ms).toBeLessThan(config.prometheus!.timeoutSeconds * 1000 + 1000);
}

let stack: PrometheusStack;
beforeAll(async () => {
  stack = await startPrometheus();
  // A few scrapes, so rate() has two samples to work with.
  await new Promise((r) => setTimeout(r, 4000));
});
afterAll(async () => {
  await stack?.stop();
});

describe('context.prometheus from a real Prometheus', () => {
  it('without prometheus configured nothing is asked and there is no context', async () => {
    const config = configWith(undefined);
    expect(await fetchPrometheusContext(config, nodeOf(config), alert({ instance: stack.instance, job: 'node' }))).toBeNull();
  });

  it("selects this machine's series by the alert's instance and job, within the time limit", async () => {
    const config = configWith({ url: stack.url, lookbackMinutes: 2, rateWindowSeconds: 3 });
    const { ctx, ms } = await timedFetch(config, alert({ instance: stack.instance, job: 'node', severity: 'warning' }));
    const h = history(ctx);
    expect(h.selector).toEqual({ instance: stack.instance, job: 'node' });
    expect(h.range.stepSeconds).toBe(1);
    const byQuery = Object.fromEntries(h.series.map((s) => [s.query, s]));
    for (const q of ['pgmajfault', 'pswpin', 'pressureWaiting', 'pressureStalled', 'memAvailable'] as const) {
      expect(byQuery[q]?.points.length ?? 0, `${q} has points`).toBeGreaterThanOrEqual(2);
    }
    // No cAdvisor here: that query answers, with nothing in it.
    expect(h.queries.map((q) => q.name)).toContain('containerPgmajfault');
    expect(byQuery.containerPgmajfault).toBeUndefined();
    expect(byQuery.memAvailable!.points.every(([, v]) => v > 0)).toBe(true);
    expect(h.summary.points).toBe(byQuery.pgmajfault!.points.length);
    expect(ms).toBeLessThan(3000);
  });

  it('an hour of lookback (15 s step) answers well within the time limit', async () => {
    const config = configWith({ url: stack.url });
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const { ctx, ms } = await timedFetch(config, alert({ instance: stack.instance, job: 'node' }));
      expect(history(ctx).range.stepSeconds).toBe(15);
      times.push(Math.round(ms));
    }
    const median = [...times].sort((a, b) => a - b)[2]!;
    console.log(`[prometheus] 60 min lookback, 6 queries in parallel: ${times.join(', ')} ms (median ${median} ms)`);
    expect(median).toBeLessThan(3000);
  });

  it("a manual triage uses the node's prometheus.selector", async () => {
    const config = configWith({ url: stack.url, lookbackMinutes: 2, rateWindowSeconds: 3 }, { prometheus: { selector: { instance: stack.instance } } });
    const h = history((await timedFetch(config, { kind: 'cli' })).ctx);
    expect(h.selector).toEqual({ instance: stack.instance });
    expect(h.summary.points).toBeGreaterThanOrEqual(2);
  });

  it('a manual triage of a node without a selector says so', async () => {
    await expectFailure(configWith({ url: stack.url }), { kind: 'cli' }, 'no_selector', /node local has no prometheus\.selector/);
  });

  it(`a label value such as ${INJECTION} selects nothing and changes no query`, async () => {
    const config = configWith({ url: stack.url, lookbackMinutes: 2, rateWindowSeconds: 3 });
    for (const labels of [
      { instance: INJECTION, job: 'node' },
      { instance: stack.instance, job: INJECTION },
      { instance: `${stack.instance}"} or vector(1) or {a="`, job: 'node' },
    ]) {
      const h = history((await timedFetch(config, alert(labels))).ctx);
      expect(h.series, JSON.stringify(labels)).toEqual([]);
      expect(h.summary).toMatchObject({ points: 0, trend: 'unknown' });
    }
  });

  it('Prometheus reads every quoted value back as exactly that value, and selects nothing with it (property)', async () => {
    const values = [
      INJECTION,
      '\\',
      '"',
      'a\nb',
      '\u2028',
      ...fc.sample(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), { numRuns: 60, seed: 15 }),
    ].map((s) => (s.trim() === '' ? `${s}x` : s));
    const query = async (q: string) => {
      const res = await fetch(`${stack.url}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await res.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string> }[] } };
      expect(body.status, `${q}: ${body.error}`).toBe('success');
      return body.data.result;
    };
    for (const s of values) {
      const expected = [...s].map((ch) => (ch.length === 1 && ch.charCodeAt(0) >= 0xd800 && ch.charCodeAt(0) <= 0xdfff ? '\ufffd' : ch)).join('');
      // label_join with two empty source labels yields exactly the separator: the literal as Prometheus parsed it.
      const joined = await query(`label_join(vector(1), "v", ${promqlString(s)}, "no_a", "no_b")`);
      expect(joined).toHaveLength(1);
      expect(joined[0]!.metric.v).toBe(expected);
      expect(await query(`up{job="node",instance=${promqlString(s)}}`)).toEqual([]);
    }
  });

  it('a wrong URL path (HTTP 404 from Prometheus) is an http_status error', async () => {
    await expectFailure(configWith({ url: `${stack.url}/not-prometheus/` }), alert({ instance: stack.instance, job: 'node' }), 'http_status', /HTTP 404/);
  });

  it('a closed port is unreachable: connection refused', async () => {
    const port = await freePort();
    await expectFailure(configWith({ url: `http://127.0.0.1:${port}` }), alert({ instance: stack.instance, job: 'node' }), 'unreachable', /connection refused/);
  });

  it('Prometheus answering slowly (10 s) is a timeout after timeoutSeconds, not after 10 s', async () => {
    const slow = await startPrometheusStandin({ delayMs: 10_000 });
    try {
      await expectFailure(configWith({ url: slow.url, timeoutSeconds: 3 }), alert({ instance: stack.instance, job: 'node' }), 'timeout', /within 3 s/);
      expect(slow.requests.length).toBeGreaterThanOrEqual(5);
    } finally {
      await slow.stop();
    }
  });

  it('Prometheus answering {"status":"error"} is a prometheus_error naming its type and text', async () => {
    const failing = await startPrometheusStandin({ status: 422, body: { status: 'error', errorType: 'execution', error: 'query processing would load too many samples into memory' } });
    try {
      await expectFailure(configWith({ url: failing.url }), alert({ instance: stack.instance, job: 'node' }), 'prometheus_error', /HTTP 422.*execution: query processing would load too many samples/);
    } finally {
      await failing.stop();
    }
  });

  it('an answer that is not Prometheus JSON is a bad_response', async () => {
    const odd = await startPrometheusStandin({ rawBody: '<html>proxy login</html>' });
    try {
      await expectFailure(configWith({ url: odd.url }), alert({ instance: stack.instance, job: 'node' }), 'bad_response', /not JSON/);
    } finally {
      await odd.stop();
    }
  });

  it('sends the bearer token, or basic auth, and keeps the path prefix', async () => {
    const s = await startPrometheusStandin();
    try {
      history((await timedFetch(configWith({ url: `${s.url}/prom`, bearerToken: 'sekret-token' }), alert({ instance: 'h:1' }))).ctx);
      history((await timedFetch(configWith({ url: s.url, basicAuth: { username: 'u', password: 'p:w' } }), alert({ instance: 'h:1' }))).ctx);
      expect(s.requests.filter((r) => r.url.startsWith('/prom/api/v1/query_range?') && r.authorization === 'Bearer sekret-token')).toHaveLength(6);
      expect(s.requests.filter((r) => r.url.startsWith('/api/v1/query_range?') && r.authorization === `Basic ${Buffer.from('u:p:w').toString('base64')}`)).toHaveLength(6);
    } finally {
      await s.stop();
    }
  });

  it('a cancelled triage stops the queries at once', async () => {
    const slow = await startPrometheusStandin({ delayMs: 10_000 });
    try {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 200);
      const { ctx, ms } = await timedFetch(configWith({ url: slow.url }), alert({ instance: 'h:1' }), ac.signal);
      expect(ctx).toEqual({ error: { code: 'cancelled', message: expect.stringMatching(/cancelled/) } });
      expect(ms).toBeLessThan(2000);
    } finally {
      await slow.stop();
    }
  });

  it('Prometheus stopped: unreachable within the time limit', async () => {
    const config = configWith({ url: stack.url });
    history((await timedFetch(config, alert({ instance: stack.instance, job: 'node' }))).ctx);
    await stack.stopPrometheus();
    await expectFailure(config, alert({ instance: stack.instance, job: 'node' }), 'unreachable', /connection refused/);
  });
});
