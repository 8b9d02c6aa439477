import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { historyChart } from '../../../src/report/history-chart.js';
import { historyOf, iso, T0 } from './history-fixtures.js';

const RATES = [100, 120, 110, 600, 800, 900, 1000, 1100, 1340, 1200];
const ELEMENTS = new Set(['figure', 'svg', 'style', 'line', 'text', 'rect', 'polyline', 'title', 'g', 'div', 'figcaption']);
const tagsOf = (svg: string) => [...svg.matchAll(/<\/?([A-Za-z][A-Za-z0-9-]*)/g)].map((m) => m[1]!);

describe('historyChart', () => {
  it('draws nothing without a context, for an error, or with fewer than two points', () => {
    expect(historyChart(null)).toBe('');
    expect(historyChart({ error: { code: 'timeout', message: 'no answer' } })).toBe('');
    expect(historyChart(historyOf([900]))).toBe('');
  });

  it('draws the rate, the threshold, the alert start, the triage window and three small multiples', () => {
    const svg = historyChart(historyOf(RATES), { alertStartsAt: iso(T0 + 3 * 60), triageStartedAt: iso(T0 + 3600), triageFinishedAt: iso(T0 + 3611) });
    const rate = /<polyline[^>]*points="([^"]+)" class="node-rate"/.exec(svg);
    expect(rate?.[1]!.split(' ')).toHaveLength(RATES.length);
    expect(svg).toContain('class="threshold"');
    expect(svg).toContain('alert threshold 500/s');
    expect(svg).toMatch(/class="alert"\/><text[^>]*>alert 02:30</);
    expect(svg).toMatch(/<rect [^>]*class="triage"><title>triage 03:27:00–03:27:11 UTC<\/title>/);
    expect(svg.match(/class="history-small"/g)).toHaveLength(3);
    expect(svg).toContain('swap-ins/s: 1.1k');
    expect(svg).toContain('memory pressure (some / full): 40% / 24%');
    expect(svg).toMatch(/available memory: 3\.\d GiB/);
    expect(tagsOf(svg).every((t) => ELEMENTS.has(t))).toBe(true);
  });

  it('the threshold sits where 500/s is on the rate axis', () => {
    const svg = historyChart(historyOf([0, 1000]));
    // Axis 0..1000 from y=182 to y=16: 500 is half way.
    expect(svg).toContain('y1="99.0" y2="99.0" class="threshold"');
  });

  it('an alert older than the lookback is said, not drawn off the chart', () => {
    const svg = historyChart(historyOf(RATES), { alertStartsAt: iso(T0 - 3600) });
    expect(svg).toContain('alert firing since 01:27, before this chart');
    expect(svg).not.toContain('class="alert"');
  });

  it('a missing companion series shows "no data" in its panel', () => {
    const ctx = historyOf(RATES);
    ctx.series = ctx.series.filter((s) => s.query !== 'pswpin');
    expect(historyChart(ctx)).toMatch(/swap-ins\/s<\/text><text[^>]*class="no-data">no data</);
  });

  it('draws the top containers from cAdvisor, their names escaped', () => {
    const pts = RATES.map((v, i): [number, number] => [T0 + i * 60, v / 2]);
    const svg = historyChart(historyOf(RATES, [{ query: 'containerPgmajfault', labels: { pod: 'web-<1>', container: 'java&"x"' }, points: pts }]));
    expect(svg).toContain('web-&lt;1&gt;/java&amp;&quot;x&quot;');
    expect(svg.match(/class="container-rate"/g)).toHaveLength(1);
  });

  it('no label from Prometheus can add an element or an attribute (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('pod', 'container', 'name', 'namespace'), fc.string({ unit: 'binary', maxLength: 40 })), (labels) => {
        const pts = RATES.map((v, i): [number, number] => [T0 + i * 60, v]);
        const svg = historyChart(historyOf(RATES, [{ query: 'containerPgmajfault', labels, points: pts }]));
        expect(tagsOf(svg).every((t) => ELEMENTS.has(t))).toBe(true);
        // Inside text and title, no raw markup character survives.
        for (const m of svg.matchAll(/<(text|title)[^>]*>([^<]*)</g)) expect(m[2]).not.toMatch(/[<>"']/);
      }),
      { numRuns: 300, seed: 15 },
    );
  });
});
