import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { summarizeHistory } from '../../../src/context/summary.js';
import { prometheusHistorySchema } from '../../../src/model/prometheus-context.js';
import { triggerSchema } from '../../../src/model/triage.js';
import { historyChart } from '../../../src/report/history-chart.js';
import { historyLine, historySpark } from '../../../src/report/history-line.js';

// Recorded from a real Prometheus while the file reader ran (test/fixtures/prometheus-context-file-reader.cmd).
const recorded = JSON.parse(readFileSync(new URL('../../fixtures/prometheus-context-file-reader.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const ctx = prometheusHistorySchema.parse(recorded.context);
const trigger = triggerSchema.parse(recorded.trigger);

describe('a context recorded from real Prometheus', () => {
  const pg = ctx.series.find((s) => s.query === 'pgmajfault')!;

  it('has every node series, and its summary is what summarizeHistory makes of the points', () => {
    expect(ctx.series.map((s) => s.query).sort()).toEqual(['memAvailable', 'pgmajfault', 'pressureStalled', 'pressureWaiting', 'pswpin']);
    expect(summarizeHistory({ points: pg.points, thresholdPerSec: 500, lookbackMinutes: ctx.summary.lookbackMinutes })).toEqual(ctx.summary);
    expect(ctx.summary).toMatchObject({ trend: 'rising', aboveFromStart: false });
  });

  it('reads as one line', () => {
    expect(historyLine(ctx, 'mrkdwn')).toBe('above 500/s since 10:13 UTC, peak 1,699/s at 10:13, rising');
  });

  it('draws every point, the alert and the triage window', () => {
    const svg = historyChart(ctx, { alertStartsAt: trigger.kind === 'alert' ? trigger.startsAt : null, triageStartedAt: String(recorded.startedAt), triageFinishedAt: String(recorded.finishedAt) });
    expect(/<polyline[^>]*points="([^"]+)" class="node-rate"/.exec(svg)?.[1]!.split(' ')).toHaveLength(pg.points.length);
    expect(svg).toContain('class="alert"');
    expect(svg).toContain('class="triage"');
    expect(svg.match(/class="history-small"/g)).toHaveLength(3);
  });

  it('gives a sparkline that is quiet first and high at the end', () => {
    const spark = historySpark(ctx, 12);
    expect(spark).toHaveLength(12);
    expect(spark.slice(0, 3).every((v) => v < 500)).toBe(true);
    expect(spark.at(-1)!).toBeGreaterThan(500);
  });
});
