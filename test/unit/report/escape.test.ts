import fc from 'fast-check';
import { marked } from 'marked';
import { describe, expect, it } from 'vitest';
import { escapeDeep, escapeFor, escapeMarkdown, escapeMrkdwn, type OutputFormat } from '../../../src/report/escape.js';

describe('escapeMarkdown', () => {
  it('neutralises emphasis, links, tables, HTML and autolinks', () => {
    const s = '*a* _b_ [x](http://evil) <b>hi</b> | col | `code` www.evil.com me@evil.com';
    const html = marked.parseInline(escapeMarkdown(s)) as string;
    expect(html).not.toMatch(/<(em|strong|a|b|code)\b/);
  });
  it('keeps paths readable', () => {
    expect(escapeMarkdown('/usr/lib/x86_64-linux-gnu/libc.so.6')).toBe('/usr/lib/x86_64-linux-gnu/libc.so.6');
  });
  it('never lets any string form a link, emphasis, code or HTML in a table cell (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (s) => {
        const html = marked.parse(`| a |\n|---|\n| ${escapeMarkdown(s)} |\n`) as string;
        expect(html).not.toMatch(/<(em|strong|a|img|code|del|script|b|i)\b/);
        expect(html.match(/<td>/g)?.length ?? 0).toBe(1);
      }),
      { numRuns: 500 },
    );
  });
});

describe('escapeMrkdwn', () => {
  it('turns mention and link syntax into text', () => {
    expect(escapeMrkdwn('<!channel> <@U1> <http://x|y> a&b')).toBe('&lt;!channel&gt; &lt;@U1&gt; &lt;http://x|y&gt; a&amp;b');
  });
});

describe('escapeDeep', () => {
  it('escapes every string and leaves numbers, booleans and null', () => {
    expect(escapeDeep({ a: '<x>', b: [1, '&'], c: { d: null, e: true } }, 'mrkdwn')).toEqual({ a: '&lt;x&gt;', b: [1, '&amp;'], c: { d: null, e: true } });
  });
});

// Bidirectional-text controls: embeddings and overrides (U+202A–202E), isolates (U+2066–2069), marks (U+200E,
// U+200F, U+061C). `prod-db-1<RLO>0019:lanretni-ved<PDF>` would display as another host.
const BIDI_CONTROLS = ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c'];
const BIDI = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/;
const FORMATS: OutputFormat[] = ['markdown', 'mrkdwn', 'html', 'text'];
const withBidi = fc
  .array(fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...BIDI_CONTROLS) }, { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) }), { maxLength: 12 })
  .map((parts) => parts.join(''));

describe('bidirectional-text controls', () => {
  it('leave no bidi control in any format, and show where each was (property)', () => {
    fc.assert(
      fc.property(withBidi, fc.constantFrom(...FORMATS), (s, format) => {
        const out = escapeFor(format, s);
        expect(out).not.toMatch(BIDI);
        // Made visible, not dropped: a reader sees that the name carried controls, and how many.
        const runs = s.match(/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]+/g) ?? [];
        for (const run of runs) expect(out).toContain(run.length === 1 ? 'U+' : `${run.length} bidi controls`);
        // A run is one marker: escaping never grows a string by more than the marker per run.
        expect(out.length).toBeLessThanOrEqual(8 * s.length + 32);
      }),
      { numRuns: 1000, seed: 14 },
    );
  });

  it('the reversed host name reads as what it is in every format', () => {
    const spoof = 'prod-db-1\u202e0019:lanretni-ved\u202c';
    const shown = 'prod-db-1\u2039U+202E\u203a0019:lanretni-ved\u2039U+202C\u203a'; // prod-db-1‹U+202E›0019:…
    for (const format of FORMATS) expect(escapeFor(format, spoof), format).toBe(shown);
    expect(marked.parseInline(escapeFor('markdown', spoof))).toBe(shown);
  });

  it('a run is one marker; many separate ones stay cheap to render as Markdown (no quadratic lexing)', () => {
    expect(escapeFor('mrkdwn', `a${'\u061c'.repeat(5000)}b`)).toBe('a\u20395000 bidi controls\u203ab');
    const md = `| a |\n|---|\n| ${escapeMarkdown('a\u202a'.repeat(10_000))} |\n`;
    const t0 = performance.now();
    const html = marked.parse(md) as string;
    expect(html.match(/<td>/g)?.length).toBe(1);
    // Generous: the linear case takes milliseconds; the quadratic one took minutes.
    expect(performance.now() - t0).toBeLessThan(10_000);
  });

  it('in a Markdown table cell, still never form markup (property)', () => {
    fc.assert(
      fc.property(withBidi, (s) => {
        const html = marked.parse(`| a |\n|---|\n| ${escapeMarkdown(s)} |\n`) as string;
        expect(html).not.toMatch(BIDI);
        expect(html).not.toMatch(/<(em|strong|a|img|code|del|script|b|i)\b/);
        expect(html.match(/<td>/g)?.length ?? 0).toBe(1);
      }),
      { numRuns: 500, seed: 14 },
    );
  });
});
