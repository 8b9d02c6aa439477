import { summarizeHistory } from '../../../src/context/summary.js';
import type { Point, PrometheusHistory, PrometheusSeries } from '../../../src/model/prometheus-context.js';

export const T0 = Date.parse('2026-11-30T02:27:00Z') / 1000;
export const iso = (t: number) => new Date(t * 1000).toISOString();

/** A context over 60 minutes with one point a minute: the given pgmajfault rates and plausible companions. */
export function historyOf(rates: number[], extra: PrometheusSeries[] = []): PrometheusHistory {
  const pts = (f: (v: number, i: number) => number): Point[] => rates.map((v, i) => [T0 + i * 60, f(v, i)]);
  const pg = pts((v) => v);
  return {
    range: { start: iso(T0), end: iso(T0 + 3600), stepSeconds: 60, rateWindowSeconds: 60 },
    selector: { instance: '10.0.3.7:9100', job: 'node' },
    queries: [],
    series: [
      { query: 'pgmajfault', labels: {}, points: pg },
      { query: 'pswpin', labels: {}, points: pts((v) => v * 0.9) },
      { query: 'pressureWaiting', labels: {}, points: pts((v) => Math.min(1, v / 3000)) },
      { query: 'pressureStalled', labels: {}, points: pts((v) => Math.min(1, v / 5000)) },
      { query: 'memAvailable', labels: {}, points: pts((_, i) => 4 * 2 ** 30 - i * 2 ** 24) },
      ...extra,
    ],
    summary: summarizeHistory({ points: pg, thresholdPerSec: 500, lookbackMinutes: 60 }),
    tookMs: 42,
  };
}
