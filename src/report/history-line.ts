import { isPrometheusFailure, type PrometheusContext } from '../model/prometheus-context.js';
import type { OutputFormat } from './escape.js';
import { templates, type TemplateSet } from './templates.js';

/**
 * `context.prometheus` in one line for the Slack verdict and the Markdown report:
 * "above 500/s since 02:57 UTC, peak 1,340/s at 03:10, rising". The wording is in
 * templates/history/summary-line.txt.hbs; this builds its view (pure) and renders it.
 */

export type HistoryLineView =
  | { error: { code: string; message: string }; noData: false }
  | { error: null; noData: true; lookbackMinutes: number }
  | {
      error: null;
      noData: false;
      lookbackMinutes: number;
      threshold: number;
      aboveSince: string | null;
      aboveFromStart: boolean;
      firstAboveAt: string | null;
      latest: number;
      peak: number;
      peakAt: string;
      /** null when too few points to say. */
      trend: 'rising' | 'falling' | 'steady' | null;
    };

const hhmm = (iso: string) => iso.slice(11, 16);

export function historyLineView(ctx: PrometheusContext): HistoryLineView {
  if (isPrometheusFailure(ctx)) return { error: ctx.error, noData: false };
  const s = ctx.summary;
  if (!s.latest || !s.peak) return { error: null, noData: true, lookbackMinutes: s.lookbackMinutes };
  return {
    error: null,
    noData: false,
    lookbackMinutes: s.lookbackMinutes,
    threshold: s.thresholdPerSec,
    aboveSince: s.aboveSince ? hhmm(s.aboveSince) : null,
    // "since before 02:10" only when the run above reaches back to the first point we have.
    aboveFromStart: s.aboveFromStart && s.aboveSince !== null && s.aboveSince === s.firstAboveAt,
    firstAboveAt: s.firstAboveAt ? hhmm(s.firstAboveAt) : null,
    latest: s.latest.perSec,
    peak: s.peak.perSec,
    peakAt: hhmm(s.peak.at),
    trend: s.trend === 'unknown' ? null : s.trend,
  };
}

/** The line in the given format; '' without a context (Prometheus not configured). */
export function historyLine(ctx: PrometheusContext | null | undefined, format: OutputFormat, set: TemplateSet = templates()): string {
  if (!ctx) return '';
  return set.render('history/summary-line.txt.hbs', historyLineView(ctx), format).trim();
}

/**
 * The pgmajfault rate cut into `buckets` equal stretches of time (the mean of each; 0 where there are no
 * points), for the Markdown report's sparkline (the `spark` template helper draws it).
 */
export function historySpark(ctx: PrometheusContext | null | undefined, buckets = 30): number[] {
  if (!ctx || isPrometheusFailure(ctx)) return [];
  const pts = ctx.series.find((s) => s.query === 'pgmajfault')?.points ?? [];
  if (pts.length === 0) return [];
  const t0 = Date.parse(ctx.range.start) / 1000;
  const t1 = Date.parse(ctx.range.end) / 1000;
  const width = Math.max(1e-9, (t1 - t0) / buckets);
  const sum = new Array<number>(buckets).fill(0);
  const count = new Array<number>(buckets).fill(0);
  for (const [t, v] of pts) {
    const i = Math.min(buckets - 1, Math.max(0, Math.floor((t - t0) / width)));
    sum[i]! += v;
    count[i]! += 1;
  }
  return sum.map((s, i) => (count[i] ? s / count[i]! : 0));
}
