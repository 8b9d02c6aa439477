import { z } from 'zod';

/**
 * `context.prometheus` of a triage: the node's series over the lookback before the triage, as
 * Prometheus had them, with a short summary; or why there are none. Label values in `series` come
 * from Prometheus (cAdvisor's container names, for one) and are escaped wherever they are shown.
 */

export const prometheusQueryNames = ['pgmajfault', 'pswpin', 'pressureWaiting', 'pressureStalled', 'memAvailable', 'containerPgmajfault'] as const;
export const prometheusQueryName = z.enum(prometheusQueryNames);
export type PrometheusQueryName = z.infer<typeof prometheusQueryName>;

export const prometheusQuerySchema = z.object({
  name: prometheusQueryName,
  promql: z.string(),
  /** What a value means: `1/s` (events per second), `s/s` (share of time), `bytes`. */
  unit: z.enum(['1/s', 's/s', 'bytes']),
});
export type PrometheusQuery = z.infer<typeof prometheusQuerySchema>;

/** [unix seconds, value]; points Prometheus gave as NaN or ±Inf are left out. */
export const pointSchema = z.tuple([z.number(), z.number()]);
export type Point = z.infer<typeof pointSchema>;

export const prometheusSeriesSchema = z.object({
  query: prometheusQueryName,
  labels: z.record(z.string(), z.string()),
  points: z.array(pointSchema),
});
export type PrometheusSeries = z.infer<typeof prometheusSeriesSchema>;

export const trendSchema = z.enum(['rising', 'falling', 'steady', 'unknown']);
export type Trend = z.infer<typeof trendSchema>;

const timedValue = z.object({ perSec: z.number(), at: z.string() });

/** The node's major-fault rate over the lookback, in the words of the alert (times are ISO 8601, UTC). */
export const historySummarySchema = z.object({
  thresholdPerSec: z.number(),
  lookbackMinutes: z.number(),
  /** Points of the pgmajfault rate series; 0 means Prometheus has no such series for the node. */
  points: z.number().int(),
  /** First point above the threshold in the lookback. */
  firstAboveAt: z.string().nullable(),
  /** The series' first point was already above: it crossed before the data begins. */
  aboveFromStart: z.boolean(),
  /** Start of the unbroken run above the threshold that reaches the latest point; null when the latest is not above. */
  aboveSince: z.string().nullable(),
  peak: timedValue.nullable(),
  latest: timedValue.nullable(),
  /** Least-squares slope of the rate over the trend window, in faults/s per minute. */
  slopePerMinute: z.number().nullable(),
  trendWindowMinutes: z.number(),
  trend: trendSchema,
});
export type HistorySummary = z.infer<typeof historySummarySchema>;

export const prometheusErrorCode = z.enum([
  /** Nothing to select the node's series by: the alert has no instance label and the node no prometheus.selector. */
  'no_selector',
  /** Connection refused, host not found, connection reset. */
  'unreachable',
  /** No complete answer within prometheus.timeoutSeconds. */
  'timeout',
  /** A non-2xx answer that is not a Prometheus API error (a proxy, a wrong URL). */
  'http_status',
  /** Prometheus answered `{"status":"error","errorType",…,"error":…}`. */
  'prometheus_error',
  /** Not the JSON Prometheus's API returns, or too large. */
  'bad_response',
  /** The triage was cancelled while the queries ran. */
  'cancelled',
]);
export type PrometheusErrorCode = z.infer<typeof prometheusErrorCode>;

export const prometheusHistorySchema = z.object({
  range: z.object({ start: z.string(), end: z.string(), stepSeconds: z.number(), rateWindowSeconds: z.number() }),
  /** The label matchers that pick the node's series, as sent (values escaped in the PromQL text). */
  selector: z.record(z.string(), z.string()),
  queries: z.array(prometheusQuerySchema),
  series: z.array(prometheusSeriesSchema),
  summary: historySummarySchema,
  /** How long the queries took together. */
  tookMs: z.number(),
});
export type PrometheusHistory = z.infer<typeof prometheusHistorySchema>;

export const prometheusFailureSchema = z.object({
  error: z.object({ code: prometheusErrorCode, message: z.string() }),
});
export type PrometheusFailure = z.infer<typeof prometheusFailureSchema>;

export const prometheusContextSchema = z.union([prometheusHistorySchema, prometheusFailureSchema]);
export type PrometheusContext = z.infer<typeof prometheusContextSchema>;

export function isPrometheusFailure(c: PrometheusContext): c is PrometheusFailure {
  return 'error' in c;
}
