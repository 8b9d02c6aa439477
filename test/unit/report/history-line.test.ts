import { describe, expect, it } from 'vitest';
import { historyLine, historyLineView, historySpark } from '../../../src/report/history-line.js';
import { historyOf } from './history-fixtures.js';

describe('historyLine', () => {
  it('above now: since when, peak and trend', () => {
    expect(historyLine(historyOf([100, 120, 110, 600, 800, 900, 1000, 1100, 1340]), 'mrkdwn')).toBe('above 500/s since 02:30 UTC, peak 1,340/s at 02:35, rising');
  });
  it('above from the first point: since before', () => {
    expect(historyLine(historyOf([900, 950, 1000, 980, 990]), 'markdown')).toBe('above 500/s since before 02:27 UTC, peak 1,000/s at 02:29, steady');
  });
  it('above, then dipped, then above again: since the current run', () => {
    expect(historyLine(historyOf([900, 950, 300, 980, 990]), 'text')).toMatch(/^above 500\/s since 02:30 UTC, peak 990\/s at 02:31/);
  });
  it('crossed and back below: first crossing and where it is now', () => {
    expect(historyLine(historyOf([100, 900, 1400, 1200, 800, 500, 200, 120]), 'text')).toBe('first above 500/s at 02:28 UTC, now 120/s, peak 1,400/s at 02:29, falling');
  });
  it('never above', () => {
    expect(historyLine(historyOf([200, 320, 250]), 'text')).toBe('below 500/s for the last 60 min, peak 320/s at 02:28, steady');
  });
  it('too few points for a trend: no trend word', () => {
    expect(historyLineView(historyOf([600, 700]))).toMatchObject({ trend: null });
    expect(historyLine(historyOf([600, 700]), 'text')).toBe('above 500/s since before 02:27 UTC, peak 700/s at 02:28');
  });
  it('no series for the node', () => {
    expect(historyLine(historyOf([]), 'text')).toBe('no major-fault series in Prometheus for this node in the last 60 min');
  });
  it('an error says which, with the text from Prometheus escaped for the format', () => {
    const ctx = { error: { code: 'prometheus_error' as const, message: 'bad_data: <!channel> & <http://x|y>' } };
    expect(historyLine(ctx, 'mrkdwn')).toBe('Prometheus history unavailable (prometheus_error): bad_data: &lt;!channel&gt; &amp; &lt;http://x|y&gt;');
    expect(historyLine(ctx, 'markdown')).toContain('\\<\\!channel\\>');
  });
  it('nothing without a context', () => {
    expect(historyLine(null, 'text')).toBe('');
  });
});

describe('historySpark', () => {
  it('averages the rate into equal stretches of the lookback, 0 where there is no point', () => {
    const spark = historySpark(historyOf([100, 300, 1000]), 60);
    expect(spark).toHaveLength(60);
    expect(spark.slice(0, 3)).toEqual([100, 300, 1000]);
    expect(spark.slice(3).every((v) => v === 0)).toBe(true);
    expect(historySpark(historyOf([100, 300, 1000, 500]), 2)).toEqual([475, 0]);
  });
  it('nothing for an error', () => {
    expect(historySpark({ error: { code: 'timeout', message: 'x' } })).toEqual([]);
  });
});
