import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SCREENS, openBrowser } from '../support/chromium.js';
import { historyChart } from '../../src/report/history-chart.js';
import { historyOf, iso, T0 } from '../unit/report/history-fixtures.js';

/**
 * The Prometheus history chart in Debian's headless Chromium, at a laptop and a phone width, under the
 * report page's Content-Security-Policy: the chart's lines, threshold, alert mark, triage window and small
 * multiples are drawn and visible, and nothing overflows. Screenshots are kept in a temp dir (printed).
 */

/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const window: any;

const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

const shotsDir = mkdtempSync(join(tmpdir(), 'pft-history-shots-'));
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const rates = Array.from({ length: 60 }, (_, i) => (i < 30 ? 80 + (i % 5) * 10 : 300 + (i - 30) * 40));
const ctx = historyOf(rates, [
  { query: 'containerPgmajfault', labels: { pod: 'payments-7f9', container: 'java' }, points: rates.map((v, i): [number, number] => [T0 + i * 60, v * 0.8]) },
]);
const svg = historyChart(ctx, { alertStartsAt: iso(T0 + 45 * 60), triageStartedAt: iso(T0 + 3600), triageFinishedAt: iso(T0 + 3611) });
const page = (body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${CSP}">` +
  `<meta name="viewport" content="width=device-width, initial-scale=1"><style>body{font:16px system-ui,sans-serif;margin:0 auto;padding:16px;max-width:72rem}</style>` +
  `</head><body><article><h2>The hour before</h2>${body}</article></body></html>`;

const open = (viewport: { width: number; height: number }, mobile: boolean) => openBrowser(viewport, mobile, cleanups);

describe.each(SCREENS)('the history chart on a $name', ({ name, viewport, mobile }) => {
  it('draws the rate, threshold, alert, triage window and three small multiples, within the page width', async () => {
    const context = await open(viewport, mobile);
    const p = await context.newPage();
    const errors: string[] = [];
    p.on('pageerror', (e) => errors.push(e.message));
    p.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await p.setContent(page(svg), { waitUntil: 'load' });
    const shot = join(shotsDir, `history-${name}.png`);
    await p.screenshot({ path: shot, fullPage: true });
    console.log(`history chart screenshot: ${shot}`);

    const m = await p.evaluate(() => {
      const box = (sel: string) => {
        const r = document.querySelector(sel)?.getBoundingClientRect();
        return r ? { x: r.x, y: r.y, w: r.width, h: r.height, right: r.right } : null;
      };
      return {
        main: box('svg.history-main'),
        rate: box('polyline.node-rate'),
        container: box('polyline.container-rate'),
        threshold: box('line.threshold'),
        alert: box('line.alert'),
        triage: box('rect.triage'),
        smalls: [...document.querySelectorAll('svg.history-small')].map((s: any) => {
          const r = s.getBoundingClientRect();
          return { w: r.width, h: r.height, right: r.right, lines: s.querySelectorAll('polyline').length };
        }),
        texts: [...document.querySelectorAll('svg.history-main text')].map((t: any) => t.textContent),
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
      };
    });
    expect(m.main!.w).toBeGreaterThan(mobile ? 300 : 600);
    expect(m.main!.right).toBeLessThanOrEqual(viewport.width);
    expect(m.rate!.w).toBeGreaterThan(m.main!.w * 0.8); // the line spans the lookback
    expect(m.rate!.h).toBeGreaterThan(m.main!.h * 0.3); // and rises
    expect(m.container!.w).toBeGreaterThan(0);
    expect(m.threshold!.w).toBeGreaterThan(m.main!.w * 0.8);
    expect(m.alert!.h).toBeGreaterThan(m.main!.h * 0.5);
    expect(m.alert!.x).toBeGreaterThan(m.main!.x + m.main!.w * 0.5); // 45 of 60 minutes in
    expect(m.triage!.w).toBeGreaterThan(0);
    expect(m.triage!.x).toBeGreaterThan(m.main!.x + m.main!.w * 0.9); // at the end
    expect(m.smalls).toHaveLength(3);
    for (const s of m.smalls) {
      expect(s.w).toBeGreaterThan(mobile ? 150 : 180);
      expect(s.right).toBeLessThanOrEqual(viewport.width);
      expect(s.lines).toBeGreaterThanOrEqual(1);
    }
    expect(m.smalls[1]!.lines).toBe(2); // pressure: some and full
    expect(m.texts).toEqual(expect.arrayContaining(['alert threshold 500/s', 'alert 03:12', 'payments-7f9/…']));
    expect(m.scrollWidth).toBeLessThanOrEqual(m.innerWidth);
    expect(errors).toEqual([]);
    expect(statSync(shot).size).toBeGreaterThan(10_000);
  });
});
