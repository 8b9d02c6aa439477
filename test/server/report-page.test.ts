import { describe, expect, it } from 'vitest';
import { markdownToHtml, renderReportPage, type ReportPageData } from '../../src/report/page.js';

const data: ReportPageData = {
  title: 'node-1: mmap reads of /block by pid 4242 (reader)',
  node: 'node-1',
  status: 'done',
  verdictKind: 'mmap-read',
  body: '<h1>x</h1>',
  markdownUrl: 'abc.md',
  triageUrl: '../triages/abc',
  createdAt: '2026-11-27 03:27:41 UTC',
  indexUrl: '../',
  previous: null,
};

describe('markdownToHtml', () => {
  it('shows raw HTML as text, block and inline', () => {
    const html = markdownToHtml('<div onclick="x()">hi</div>\n\ntext <b onmouseover=alert(1)>bold</b> <!-- c -->');
    expect(html).not.toMatch(/<div|<b |<!--/);
    expect(html).toContain('&lt;div onclick=&quot;x()&quot;&gt;hi&lt;/div&gt;');
    expect(html).toContain('&lt;b onmouseover=alert(1)&gt;bold&lt;/b&gt;');
  });

  it('keeps only safe link targets and drops images', () => {
    const html = markdownToHtml('[a](javascript:alert(1)) [b](data:text/html,x) [c](https://ok.example/p?q=1&r=2) [d](../triages/x) ![i](https://t.example/p.png)');
    expect(html).not.toMatch(/javascript:|data:|<img/);
    expect(html).toContain('<a href="https://ok.example/p?q=1&amp;r=2" rel="noopener noreferrer">c</a>');
    expect(html).toContain('<a href="../triages/x" rel="noopener noreferrer">d</a>');
    expect(html).toContain('a b');
  });

  it('wraps tables so they scroll on narrow screens, and keeps column alignment', () => {
    const html = markdownToHtml('| pid | faults/s |\n|---:|---:|\n| 1 | 2 |');
    expect(html).toMatch(/^<div class="table-wrap"><table>[\s\S]*<\/table><\/div>\n?$/);
    expect(html).toContain('<td align="right">2</td>');
  });
});

describe('renderReportPage', () => {
  it('escapes every field but the rendered body', () => {
    const html = renderReportPage({ ...data, title: '<script>t</script>', node: 'a&b', body: '<p>body</p>' });
    expect(html).toContain('<title>&lt;script&gt;t&lt;/script&gt; · pagefault-triage</title>');
    expect(html).toContain('node <strong>a&amp;b</strong>');
    expect(html).toContain('<p>body</p>');
    expect(html).toContain('<span class="badge kind-mmap-read">mmap-read</span>');
  });

  it('fails loudly when a field is missing (strict template)', () => {
    const { createdAt: _omitted, ...partial } = data;
    expect(() => renderReportPage(partial as ReportPageData)).toThrow(/template report-page.html.hbs: "createdAt" not defined/);
  });
});

describe('sparklines on the page', () => {
  it('draws each run of sparkline glyphs as inline SVG bars of the same heights, not as glyphs a font may lack', () => {
    const html = markdownToHtml('| pid | per second |\n|---:|---|\n| 1 | ▁▄█ |\n\nNode total ▂▂ · threshold at ▅.\n');
    expect(html).not.toMatch(/[▁▂▃▄▅▆▇█]+(?![^<]*")/);
    const svgs = html.match(/<svg class="spark"[^>]*>.*?<\/svg>/g)!;
    expect(svgs).toHaveLength(3);
    const heights = (svg: string) => [...svg.matchAll(/height="([\d.]+)"\/>/g)].map((m) => Number(m[1]));
    expect(heights(svgs[0]!)).toEqual([2, 8, 16]);
    expect(svgs[0]).toContain('aria-label="▁▄█"');
    expect(heights(svgs[2]!)).toEqual([10]);
  });
});
