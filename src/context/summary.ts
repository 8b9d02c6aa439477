import type { HistorySummary, Point, Trend } from '../model/prometheus-context.js';

/**
 * The on-call engineer's questions about the hour before the alert, answered from the pgmajfault rate
 * series alone: since when above the threshold, how high at most, and is it getting worse now. Pure.
 */

/** The trend is fitted over this much of the latest data. */
export const TREND_WINDOW_SECONDS = 300;
/**
 * Rising or falling when the fitted line changes by more than this share of the level (the window's mean
 * rate, at least the threshold) across the window; anything smaller is steady. The floor at the threshold
 * keeps noise around a quiet node (3/s → 6/s) from being called rising.
 */
export const TREND_MIN_CHANGE = 0.1;
/** A least-squares line through fewer points says little. */
const TREND_MIN_POINTS = 3;

export interface SummaryInput {
  points: Point[];
  thresholdPerSec: number;
  lookbackMinutes: number;
}

const iso = (t: number): string => new Date(t * 1000).toISOString();

export function summarizeHistory({ points, thresholdPerSec, lookbackMinutes }: SummaryInput): HistorySummary {
  const sorted = [...points].sort((a, b) => a[0] - b[0]);
  const base = { thresholdPerSec, lookbackMinutes, points: sorted.length, trendWindowMinutes: TREND_WINDOW_SECONDS / 60 };
  const last = sorted.at(-1);
  if (!last) {
    return { ...base, firstAboveAt: null, aboveFromStart: false, aboveSince: null, peak: null, latest: null, slopePerMinute: null, trend: 'unknown' };
  }
  const above = (p: Point) => p[1] > thresholdPerSec; // the alert's `> 500`
  const first = sorted.find(above);

  let runStart: Point | undefined;
  for (let i = sorted.length - 1; i >= 0 && above(sorted[i]!); i--) runStart = sorted[i];

  let peak = sorted[0]!;
  for (const p of sorted) if (p[1] > peak[1]) peak = p;

  const { slope, trend } = trendOf(sorted, thresholdPerSec);
  return {
    ...base,
    firstAboveAt: first ? iso(first[0]) : null,
    aboveFromStart: above(sorted[0]!),
    aboveSince: runStart ? iso(runStart[0]) : null,
    peak: { perSec: peak[1], at: iso(peak[0]) },
    latest: { perSec: last[1], at: iso(last[0]) },
    slopePerMinute: slope,
    trend,
  };
}

/** Least-squares slope (per minute) over the last TREND_WINDOW_SECONDS, and what it means. */
export function trendOf(sorted: Point[], thresholdPerSec: number): { slope: number | null; trend: Trend } {
  const end = sorted.at(-1)?.[0];
  if (end === undefined) return { slope: null, trend: 'unknown' };
  const win = sorted.filter((p) => p[0] >= end - TREND_WINDOW_SECONDS);
  if (win.length < TREND_MIN_POINTS) return { slope: null, trend: 'unknown' };
  const n = win.length;
  const mt = win.reduce((s, p) => s + p[0], 0) / n;
  const mv = win.reduce((s, p) => s + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [t, v] of win) {
    num += (t - mt) * (v - mv);
    den += (t - mt) ** 2;
  }
  if (den === 0) return { slope: null, trend: 'unknown' };
  const perSecond = num / den;
  const span = win.at(-1)![0] - win[0]![0];
  const change = perSecond * span;
  const level = Math.max(mv, thresholdPerSec);
  const trend: Trend = change > TREND_MIN_CHANGE * level ? 'rising' : change < -TREND_MIN_CHANGE * level ? 'falling' : 'steady';
  return { slope: perSecond * 60, trend };
}
