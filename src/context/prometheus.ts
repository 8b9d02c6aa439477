/**
 * Context stage: the node's last hour from Prometheus, next to the verdict. It runs beside the playbook,
 * asks Prometheus's HTTP API only (nothing it answers reaches a shell or a node), runs all queries at once
 * under one time limit, and never throws: whatever goes wrong becomes `{ error: { code, message } }`, so
 * a slow or absent Prometheus can neither delay nor fail a triage.
 */
import { z } from 'zod';
import { ALERT_THRESHOLD_PER_SEC as DEFAULT_ALERT_THRESHOLD_PER_SEC } from '../model/limits.js';
import { instanceHost as hostOfInstance } from '../config/inventory.js';
import type { Config, NodeConfig, PrometheusConfig } from '../config/schema.js';
import type {
  PrometheusContext,
  PrometheusErrorCode,
  PrometheusFailure,
  PrometheusQuery,
  PrometheusSeries,
} from '../model/prometheus-context.js';
import type { Trigger } from '../model/triage.js';
import { equalityMatchers, regexLiteral, selector, type LabelMatcher } from './promql.js';
import { summarizeHistory } from './summary.js';

/** About 240 points over the lookback: a 15 s step for the default hour, one point a second for 4 minutes or less. */
const MAX_POINTS = 240;
/** Containers shown from cAdvisor. */
const TOP_CONTAINERS = 5;
/** One answer larger than this is not a node's hour of data. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
/** Prometheus's error text is kept to this many characters. */
const MAX_ERROR_TEXT = 300;

export interface ContextOptions {
  /** The triage's start; the lookback ends here. */
  now?: Date;
  /** The triage's own signal: cancelling the triage stops the queries. */
  signal?: AbortSignal;
}

class ContextError extends Error {
  constructor(
    readonly code: PrometheusErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const fail = (code: PrometheusErrorCode, message: string): PrometheusFailure => ({ error: { code, message } });

/**
 * Which series are the node's: the alert's own `instance` and `job` (what the alert rule saw), else the
 * node's configured `prometheus.selector`. Values are used as data only; promql.ts quotes them.
 */
export function nodeSeriesLabels(node: NodeConfig, trigger: Trigger): Record<string, string> | null {
  if (trigger.kind === 'alert' && trigger.labels.instance !== undefined) {
    const labels: Record<string, string> = { instance: trigger.labels.instance };
    if (trigger.labels.job !== undefined) labels.job = trigger.labels.job;
    return labels;
  }
  return node.prometheus?.selector ?? null;
}

/** The instance's host part as it is written in the label: `10.0.0.5:9100` → `10.0.0.5`, `[fe80::1]:9100` → `[fe80::1]`. */
export function instanceHost(instance: string): string {
  const host = hostOfInstance(instance);
  return instance.startsWith('[') ? `[${host}]` : host;
}

export interface QueryPlan {
  queries: PrometheusQuery[];
  stepSeconds: number;
  rateWindowSeconds: number;
  start: number;
  end: number;
}

/** The PromQL for one node. Pure: the same labels and settings always give the same text. */
export function planQueries(labels: Record<string, string>, pc: Pick<PrometheusConfig, 'lookbackMinutes' | 'rateWindowSeconds'>, now: Date): QueryPlan {
  const lookback = pc.lookbackMinutes * 60;
  const stepSeconds = Math.max(1, Math.ceil(lookback / MAX_POINTS));
  // A rate window shorter than the step would skip samples between points.
  const rateWindowSeconds = Math.max(pc.rateWindowSeconds, stepSeconds);
  const end = now.getTime() / 1000;
  // Points on multiples of the step, so two triages a minute apart share their points.
  const start = Math.ceil((end - lookback) / stepSeconds) * stepSeconds;
  const sel = selector(equalityMatchers(labels));
  const w = `[${rateWindowSeconds}s]`;
  const queries: PrometheusQuery[] = [
    // sum(): one line for the node even if its exporter is scraped by two jobs, and no series at all when nothing matches.
    { name: 'pgmajfault', promql: `sum(rate(node_vmstat_pgmajfault${sel}${w}))`, unit: '1/s' },
    { name: 'pswpin', promql: `sum(rate(node_vmstat_pswpin${sel}${w}))`, unit: '1/s' },
    { name: 'pressureWaiting', promql: `sum(rate(node_pressure_memory_waiting_seconds_total${sel}${w}))`, unit: 's/s' },
    { name: 'pressureStalled', promql: `sum(rate(node_pressure_memory_stalled_seconds_total${sel}${w}))`, unit: 's/s' },
    { name: 'memAvailable', promql: `sum(node_memory_MemAvailable_bytes${sel})`, unit: 'bytes' },
  ];
  if (labels.instance !== undefined) {
    // cAdvisor (kubelet) is another target on the same host: same host, any port, any job.
    const containerSel = selector([
      { name: 'failure_type', op: '=', value: 'pgmajfault' },
      { name: 'scope', op: '=', value: 'container' },
      { name: 'instance', op: '=~', value: `${regexLiteral(instanceHost(labels.instance))}(:[0-9]+)?` },
    ] satisfies LabelMatcher[]);
    queries.push({
      name: 'containerPgmajfault',
      promql: `topk(${TOP_CONTAINERS}, sum by (namespace, pod, container, name) (rate(container_memory_failures_total${containerSel}${w})))`,
      unit: '1/s',
    });
  }
  return { queries, stepSeconds, rateWindowSeconds, start, end };
}

const matrixSchema = z.object({
  status: z.literal('success'),
  data: z.object({
    resultType: z.literal('matrix'),
    result: z.array(z.object({ metric: z.record(z.string(), z.string()), values: z.array(z.tuple([z.number(), z.string()])) })),
  }),
});
const apiErrorSchema = z.object({ status: z.literal('error'), errorType: z.string().optional(), error: z.string().optional() });

/**
 * Fetches `context.prometheus` for one triage. Never throws and never takes longer than
 * `prometheus.timeoutSeconds`; without `prometheus` configured, returns null (nothing is asked).
 */
export async function fetchPrometheusContext(config: Config, node: NodeConfig, trigger: Trigger, options: ContextOptions = {}): Promise<PrometheusContext | null> {
  const pc = config.prometheus;
  if (!pc) return null;
  const labels = nodeSeriesLabels(node, trigger);
  if (!labels) {
    return fail(
      'no_selector',
      trigger.kind === 'alert'
        ? `the alert has no instance label and node ${node.name} has no prometheus.selector`
        : `node ${node.name} has no prometheus.selector, which triages not started by an alert need`,
    );
  }
  const plan = planQueries(labels, pc, options.now ?? new Date());
  const t0 = performance.now();

  const timeout = AbortSignal.timeout(pc.timeoutSeconds * 1000);
  const firstFailure = new AbortController();
  const signal = AbortSignal.any([timeout, firstFailure.signal, ...(options.signal ? [options.signal] : [])]);
  const why = (err: unknown): ContextError => {
    if (timeout.aborted) return new ContextError('timeout', `no complete answer from Prometheus within ${pc.timeoutSeconds} s`);
    if (options.signal?.aborted) return new ContextError('cancelled', 'the triage was cancelled while Prometheus was queried');
    return err instanceof ContextError ? err : new ContextError('bad_response', `unexpected failure: ${errorText(err)}`);
  };

  try {
    const results = await untilAborted(
      Promise.all(
        plan.queries.map((q) =>
          queryRange(pc, q, plan, signal).catch((err: unknown) => {
            // The first failure decides; the other queries are stopped rather than left running.
            const e = why(err);
            firstFailure.abort(e);
            throw e;
          }),
        ),
      ),
      signal,
    );
    const series = results.flat();
    const pg = series.find((s) => s.query === 'pgmajfault');
    return {
      range: { start: iso(plan.start), end: iso(plan.end), stepSeconds: plan.stepSeconds, rateWindowSeconds: plan.rateWindowSeconds },
      selector: labels,
      queries: plan.queries,
      series,
      summary: summarizeHistory({ points: pg?.points ?? [], thresholdPerSec: DEFAULT_ALERT_THRESHOLD_PER_SEC, lookbackMinutes: pc.lookbackMinutes }),
      tookMs: Math.round(performance.now() - t0),
    };
  } catch (err) {
    const e = firstFailure.signal.aborted && firstFailure.signal.reason instanceof ContextError ? firstFailure.signal.reason : why(err);
    return fail(e.code, e.message);
  }
}

async function queryRange(pc: PrometheusConfig, q: PrometheusQuery, plan: QueryPlan, signal: AbortSignal): Promise<PrometheusSeries[]> {
  const url = apiUrl(pc.url, 'api/v1/query_range');
  url.searchParams.set('query', q.promql);
  url.searchParams.set('start', String(plan.start));
  url.searchParams.set('end', String(plan.end));
  url.searchParams.set('step', `${plan.stepSeconds}s`);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (pc.bearerToken) headers.authorization = `Bearer ${pc.bearerToken}`;
  if (pc.basicAuth) headers.authorization = `Basic ${Buffer.from(`${pc.basicAuth.username}:${pc.basicAuth.password}`).toString('base64')}`;

  let res: Response;
  try {
    // No redirects: a redirect could carry the credentials to another host.
    res = await fetch(url, { headers, signal, redirect: 'manual' });
  } catch (err) {
    if (signal.aborted) throw err;
    throw new ContextError('unreachable', `cannot reach Prometheus at ${safeOrigin(pc.url)}: ${networkReason(err)}`);
  }
  const text = await readCapped(res, signal);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const apiError = apiErrorSchema.safeParse(body);
  if (apiError.success) {
    const detail = [apiError.data.errorType, apiError.data.error].filter(Boolean).join(': ');
    throw new ContextError('prometheus_error', `Prometheus answered HTTP ${res.status} with an error for the ${q.name} query: ${clip(detail || 'no detail')}`);
  }
  if (!res.ok) throw new ContextError('http_status', `Prometheus at ${safeOrigin(pc.url)} answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''} for the ${q.name} query`);
  if (body === undefined) throw new ContextError('bad_response', `the answer to the ${q.name} query is not JSON`);
  const matrix = matrixSchema.safeParse(body);
  if (!matrix.success) throw new ContextError('bad_response', `the answer to the ${q.name} query is not a Prometheus range result: ${clip(matrix.error.issues[0]?.message ?? '')}`);
  return matrix.data.data.result.map((r) => ({
    query: q.name,
    labels: r.metric,
    points: r.values.map(([t, v]) => [t, Number(v)] as [number, number]).filter(([, v]) => Number.isFinite(v)),
  }));
}

/** `base` may carry a path prefix (Prometheus behind a proxy at /prometheus/). */
function apiUrl(base: string, path: string): URL {
  const u = new URL(base);
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return new URL(path, u);
}

function safeOrigin(base: string): string {
  const u = new URL(base);
  return `${u.origin}${u.pathname}`;
}

async function readCapped(res: Response, signal: AbortSignal): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    if (signal.aborted) {
      await reader.cancel().catch(() => {});
      throw signal.reason;
    }
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel().catch(() => {});
      throw new ContextError('bad_response', `Prometheus's answer is larger than ${MAX_RESPONSE_BYTES / 1024 / 1024} MiB`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Undici wraps the socket error in `cause`: ECONNREFUSED and friends say more than "fetch failed". */
function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  switch (cause?.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection reset';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to host';
    default:
      return clip(cause?.message ?? errorText(err));
  }
}

/** Resolves as `p` does, or rejects as soon as `signal` aborts: the limit holds even if a step ignores the signal. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function clip(s: string): string {
  // eslint-disable-next-line no-control-regex
  const flat = s.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return flat.length > MAX_ERROR_TEXT ? `${flat.slice(0, MAX_ERROR_TEXT - 1)}…` : flat;
}

const iso = (t: number): string => new Date(t * 1000).toISOString();
