/**
 * The report page as the bot serves it, with the hour before from Prometheus, in Debian's headless Chromium at a
 * laptop and a phone width: the chart sits under its section and draws the node's rate, the threshold, the
 * triage window and the small multiples. Prometheus is a stand-in replaying the pgmajfault series recorded from
 * the real one (test/fixtures/prometheus-context-file-reader.json), moved to end now.
 */
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, SCREENS, openBrowser } from '../support/chromium.js';
import { configSchema } from '../../src/config/schema.js';
import { renderReport } from '../../src/report/markdown.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { startPrometheusStandin, type PrometheusStandin } from '../support/prometheus.js';
import { fakeResult, tempDir, waitFor } from '../support/service.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const window: any;


const recorded = JSON.parse(readFileSync(new URL('../fixtures/prometheus-context-file-reader.json', import.meta.url), 'utf8')) as {
  context: { series: { query: string; points: [number, number][] }[] };
};

let server: RunningServer;
let prometheus: PrometheusStandin;
let reportUrl: string;
const shotsDir = mkdtempSync(join(tmpdir(), 'pft-history-page-shots-'));
const cleanups: (() => void | Promise<void>)[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)`);
  // The recorded rate, shifted so its last point is now: every query of the triage gets it back.
  const points = recorded.context.series.find((s) => s.query === 'pgmajfault')!.points;
  const shift = Math.floor(Date.now() / 1000) - points.at(-1)![0];
  const values = points.map(([t, v]) => [t + shift, String(v)]);
  prometheus = await startPrometheusStandin({ body: { status: 'success', data: { resultType: 'matrix', result: [{ metric: {}, values }] } } });
  const dir = tempDir('pft-history-page-');
  const config = configSchema.parse({
    server: { host: '127.0.0.1', port: 0 },
    storage: { path: dir.path },
    playbook: { sampleSeconds: 1, captureSeconds: 1 },
    prometheus: { url: prometheus.url, lookbackMinutes: 2, rateWindowSeconds: 5 },
    nodes: [{ name: 'local', local: true, prometheus: { selector: { instance: '127.0.0.1:9100', job: 'node' } } }],
  });
  server = await startServer(config, { logger: false, handleSignals: false, triage: async (_c, node, trigger) => fakeResult(node, trigger), render: renderReport });
  cleanups.push(dir.remove, () => server.close(), () => prometheus.stop());
  const id = (await server.service.requestTriage('local', { kind: 'cli' })).id;
  const t = await waitFor('the triage to be done', async () => {
    const v = await server.service.getTriage(id);
    return v?.status === 'done' && v;
  });
  reportUrl = t.reportUrl!;
  console.log(`history page screenshots: ${shotsDir}`);
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const open = (viewport: { width: number; height: number }, mobile: boolean) => openBrowser(viewport, mobile, cleanups);

describe.each(SCREENS)('the report page with the hour before, on a $name', ({ name, viewport, mobile }) => {
  it("shows the chart under its section: the node's rate, the threshold, the triage window, small multiples", async () => {
    const context = await open(viewport, mobile);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    expect((await page.goto(reportUrl, { waitUntil: 'load' }))?.status()).toBe(200);
    const shot = join(shotsDir, `${name}.png`);
    await page.screenshot({ path: shot, fullPage: true });

    const m = await page.evaluate(() => {
      const h2 = [...document.querySelectorAll('h2')].find((h: any) => h.textContent.startsWith('Major faults before the triage'));
      const svg = h2?.nextElementSibling?.querySelector('svg.history-main') ?? null;
      const box = (el: any) => {
        const r = el?.getBoundingClientRect();
        return r ? { x: r.x, w: r.width, h: r.height, right: r.right } : null;
      };
      return {
        heading: h2 ? h2.textContent : null,
        main: box(svg),
        rate: box(svg?.querySelector('polyline.node-rate')),
        threshold: box(svg?.querySelector('line.threshold')),
        triage: box(svg?.querySelector('rect.triage')),
        smalls: [...document.querySelectorAll('svg.history-small')].length,
        summary: h2?.nextElementSibling?.nextElementSibling?.textContent ?? '',
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
      };
    });
    expect(m.heading).toBe('Major faults before the triage');
    expect(m.main!.w).toBeGreaterThan(mobile ? 300 : 600);
    expect(m.main!.right).toBeLessThanOrEqual(viewport.width);
    expect(m.rate!.w).toBeGreaterThan(m.main!.w * 0.25); // the recorded burst: the last half of the lookback
    expect(m.rate!.h).toBeGreaterThan(0);
    expect(m.threshold!.w).toBeGreaterThan(m.main!.w * 0.8);
    expect(m.triage!.w).toBeGreaterThan(0);
    expect(m.smalls).toBe(3);
    expect(m.scrollWidth).toBeLessThanOrEqual(m.innerWidth);
    expect(errors).toEqual([]);
    expect(statSync(shot).size).toBeGreaterThan(20_000);
  });
});
