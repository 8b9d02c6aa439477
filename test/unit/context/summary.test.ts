import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { summarizeHistory, trendOf, TREND_WINDOW_SECONDS } from '../../../src/context/summary.js';
import type { Point } from '../../../src/model/prometheus-context.js';

const T0 = Date.parse('2026-11-30T02:27:00Z') / 1000;
const at = (minute: number) => new Date((T0 + minute * 60) * 1000).toISOString();
/** One point a minute from T0, the given rates. */
const perMinute = (values: number[]): Point[] => values.map((v, i) => [T0 + i * 60, v]);
const summarize = (points: Point[]) => summarizeHistory({ points, thresholdPerSec: 500, lookbackMinutes: 60 });

describe('summarizeHistory', () => {
  it('no points: nothing known, trend unknown', () => {
    expect(summarize([])).toMatchObject({ points: 0, firstAboveAt: null, aboveSince: null, peak: null, latest: null, trend: 'unknown', aboveFromStart: false });
  });

  it('crossed once and still above: since when, peak and rising', () => {
    const s = summarize(perMinute([100, 120, 110, 600, 800, 900, 1000, 1100, 1340]));
    expect(s.firstAboveAt).toBe(at(3));
    expect(s.aboveSince).toBe(at(3));
    expect(s.aboveFromStart).toBe(false);
    expect(s.peak).toEqual({ perSec: 1340, at: at(8) });
    expect(s.latest).toEqual({ perSec: 1340, at: at(8) });
    expect(s.trend).toBe('rising');
    expect(s.slopePerMinute).toBeGreaterThan(0);
  });

  it('above, dipped, above again: first crossing and the current run differ', () => {
    const s = summarize(perMinute([700, 800, 300, 200, 900, 1000, 950, 980, 1000, 990]));
    expect(s.firstAboveAt).toBe(at(0));
    expect(s.aboveFromStart).toBe(true);
    expect(s.aboveSince).toBe(at(4));
    expect(s.trend).toBe('steady');
  });

  it('back below now: no current run, falling', () => {
    const s = summarize(perMinute([100, 900, 1400, 1200, 800, 500, 200, 100]));
    expect(s.aboveSince).toBeNull();
    expect(s.firstAboveAt).toBe(at(1));
    expect(s.peak).toEqual({ perSec: 1400, at: at(2) });
    expect(s.trend).toBe('falling');
  });

  it('exactly at the threshold is not above (the alert says > 500)', () => {
    expect(summarize(perMinute([500, 500, 500])).firstAboveAt).toBeNull();
  });

  it('a quiet node wobbling between 2/s and 8/s is steady, not rising', () => {
    expect(summarize(perMinute([2, 3, 2, 5, 8])).trend).toBe('steady');
  });

  it('sorts points it gets out of order', () => {
    const pts = perMinute([100, 600, 700]);
    expect(summarize([pts[2]!, pts[0]!, pts[1]!]).firstAboveAt).toBe(at(1));
  });
});

describe('trendOf', () => {
  it('fits only the trend window: an old peak does not make a flat present falling', () => {
    const old: Point[] = [[T0, 5000]];
    const recent: Point[] = Array.from({ length: 10 }, (_, i) => [T0 + 3600 + i * 30, 800]);
    expect(recent[0]![0] - old[0]![0]).toBeGreaterThan(TREND_WINDOW_SECONDS);
    expect(trendOf([...old, ...recent], 500).trend).toBe('steady');
  });
  it('fewer than 3 points in the window: unknown', () => {
    expect(trendOf(perMinute([100, 900]), 500)).toEqual({ slope: null, trend: 'unknown' });
  });
  it('a straight line is rising or falling exactly when it changes by more than 10% of max(mean, threshold) (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: -2000, max: 2000 }),
        fc.integer({ min: 3, max: 30 }),
        (a, b, n) => {
          const vals = Array.from({ length: n }, (_, i) => a + b * i);
          fc.pre(vals.every((v) => v >= 0));
          const change = b * (n - 1);
          const mean = vals.reduce((x, y) => x + y, 0) / n;
          const bound = 0.1 * Math.max(mean, 500);
          fc.pre(Math.abs(Math.abs(change) - bound) > 1e-6 * bound); // not on the boundary itself
          const { trend, slope } = trendOf(vals.map((v, i): Point => [T0 + i * 10, v]), 500);
          expect(trend).toBe(change > bound ? 'rising' : change < -bound ? 'falling' : 'steady');
          expect(slope).toBeCloseTo((b / 10) * 60, 6);
        },
      ),
      { numRuns: 500, seed: 15 },
    );
  });
});
