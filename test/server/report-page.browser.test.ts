import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, SCREENS, openBrowser } from '../support/chromium.js';
import { triageResultSchema } from '../../src/model/triage.js';
import { renderReport } from '../../src/report/markdown.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { tempDir, testConfig, waitFor } from '../support/service.js';

/**
 * The report page in Debian's headless Chromium, at a laptop and a phone width. The report is the
 * real renderReport's Markdown of a recorded engine result (fixtures/README.md). Screenshots are
 * kept in a temp dir (printed) so a person can look at them.
 */

// page.evaluate callbacks run in the page: these stand in for the DOM types this Node project does not load.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const window: any;
declare function getComputedStyle(element: any): any;

const recorded = triageResultSchema.parse(JSON.parse(readFileSync(new URL('./fixtures/triage-result-mmap-read.json', import.meta.url), 'utf8')));

let server: RunningServer;
let reportUrl: string;
const shotsDir = mkdtempSync(join(tmpdir(), 'pft-report-shots-'));
const cleanups: (() => void | Promise<void>)[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)`);
  const dir = tempDir('pft-page-');
  server = await startServer(testConfig(dir.path), {
    logger: false,
    handleSignals: false,
    // Replays the recorded engine result; the report is rendered by the real renderReport.
    triage: async (_c, _node, trigger) => ({ ...recorded, trigger }),
    render: renderReport,
  });
  cleanups.push(dir.remove, () => server.close());
  const id = (await server.service.requestTriage('local', { kind: 'cli' })).id;
  const t = await waitFor('the triage to be done', async () => {
    const v = await server.service.getTriage(id);
    return v?.status === 'done' && v;
  });
  reportUrl = t.reportUrl!;
  console.log(`report page screenshots: ${shotsDir}`);
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const open = (viewport: { width: number; height: number }, mobile: boolean) => openBrowser(viewport, mobile, cleanups);

describe.each(SCREENS)('the report page on a $name', ({ name, viewport, mobile }) => {
  it('is laid out to be read: title visible, tables bordered and striped, code monospaced, nothing overflows the page', async () => {
    const context = await open(viewport, mobile);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    const res = await page.goto(reportUrl, { waitUntil: 'load' });
    expect(res?.status()).toBe(200);
    // Taken first, so a failing check below still leaves pictures to look at.
    const viewShot = join(shotsDir, `${name}.png`);
    const fullShot = join(shotsDir, `${name}-full.png`);
    await page.screenshot({ path: viewShot });
    await page.screenshot({ path: fullShot, fullPage: true });

    const h1 = page.locator('h1');
    await expect.poll(() => h1.isVisible()).toBe(true);
    expect(await h1.textContent()).toBe(`local: ${recorded.verdict.summary}`);
    const h1Box = (await h1.boundingBox())!;
    expect(h1Box.y + h1Box.height).toBeLessThan(viewport.height); // above the fold
    expect(h1Box.x + h1Box.width).toBeLessThanOrEqual(viewport.width);
    expect(await page.title()).toBe(`local: ${recorded.verdict.summary} · pagefault-triage`);

    const layout = await page.evaluate(() => {
      const doc = document.documentElement;
      const td = document.querySelector('tbody td')!;
      const rows = document.querySelectorAll('tbody tr');
      const wraps = [...document.querySelectorAll('.table-wrap')];
      return {
        pageScrollWidth: doc.scrollWidth,
        innerWidth: window.innerWidth,
        tables: document.querySelectorAll('table').length,
        bodyFont: getComputedStyle(document.body).fontFamily,
        codeFont: getComputedStyle(document.querySelector('code')!).fontFamily,
        cellBorder: getComputedStyle(td).borderBottomStyle,
        // Markdown `---:` columns (counts, rates) line up on the right.
        rightAligned: [...document.querySelectorAll('td[align="right"]')].every((c) => getComputedStyle(c).textAlign === 'right'),
        rightAlignedCells: document.querySelectorAll('td[align="right"]').length,
        zebra: [getComputedStyle(rows[0]!).backgroundColor, getComputedStyle(rows[1]!).backgroundColor],
        articleWidth: document.querySelector('article')!.getBoundingClientRect().width,
        wrapsScrolling: wraps.filter((w) => w.scrollWidth > w.clientWidth).length,
        // Key–value tables (empty header row) wrap their values instead of scrolling.
        keyValueScrolling: wraps.filter((w) => w.querySelector('thead th:not(:empty)') === null && w.scrollWidth > w.clientWidth).length,
        keyValueTables: wraps.filter((w) => w.querySelector('thead th:not(:empty)') === null).length,
        wrapOverflow: getComputedStyle(wraps[0]!).overflowX,
      };
    });
    expect(layout.tables).toBeGreaterThanOrEqual(4);
    expect(layout.pageScrollWidth).toBeLessThanOrEqual(layout.innerWidth); // the page itself never scrolls sideways
    expect(layout.bodyFont).toMatch(/^system-ui/);
    expect(layout.codeFont).toMatch(/monospace/);
    expect(layout.cellBorder).toBe('solid');
    expect(layout.rightAlignedCells).toBeGreaterThan(0);
    expect(layout.rightAligned).toBe(true);
    expect(layout.zebra[0]).not.toBe(layout.zebra[1]);
    expect(layout.wrapOverflow).toBe('auto');
    expect(layout.keyValueTables).toBeGreaterThanOrEqual(2);
    expect(layout.keyValueScrolling).toBe(0);
    if (mobile) {
      expect(layout.wrapsScrolling).toBeGreaterThan(0); // wide tables scroll inside their box
    } else {
      expect(layout.articleWidth).toBeLessThanOrEqual(76 * 16); // a bounded measure, not the full screen
      expect(layout.wrapsScrolling).toBe(0);
    }
    expect(errors).toEqual([]);

    for (const f of [viewShot, fullShot]) expect(statSync(f).size).toBeGreaterThan(20_000);
    const png = readFileSync(viewShot);
    expect(png.readUInt32BE(16)).toBe(viewport.width * (mobile ? 2 : 1)); // IHDR width
  });
});

describe.each(SCREENS)('sparklines and the index on a $name', ({ name, viewport, mobile }) => {
  it('draws sparklines as visible bars, and the index of triages fits the screen with its filters and cards', async () => {
    const context = await open(viewport, mobile);
    const page = await context.newPage();
    await page.goto(reportUrl, { waitUntil: 'load' });
    const sparks = await page.evaluate(() =>
      [...document.querySelectorAll('svg.spark')].map((s: any) => {
        const box = s.getBoundingClientRect();
        return { width: box.width, height: box.height, bars: s.querySelectorAll('rect').length };
      }),
    );
    expect(sparks.length).toBeGreaterThan(0);
    for (const s of sparks) {
      expect(s.bars).toBeGreaterThan(0);
      expect(s.width).toBeGreaterThan(0);
      expect(s.height).toBeGreaterThan(0);
    }

    const index = await page.goto(new URL('/', reportUrl).href, { waitUntil: 'load' });
    expect(index?.status()).toBe(200);
    await page.screenshot({ path: join(shotsDir, `${name}-index.png`), fullPage: true });
    const layout = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      cards: document.querySelectorAll('ol.triages li').length,
      selects: document.querySelectorAll('form.filters select').length,
      reportLinks: [...document.querySelectorAll('ol.triages .summary a')].map((a: any) => a.getAttribute('href')),
    }));
    expect(layout.scrollWidth).toBeLessThanOrEqual(layout.innerWidth);
    expect(layout.cards).toBeGreaterThan(0);
    expect(layout.selects).toBe(2);
    expect(layout.reportLinks).toContain(reportUrl);
  });
});
