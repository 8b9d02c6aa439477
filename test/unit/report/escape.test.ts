import fc from 'fast-check';
import { marked } from 'marked';
import { describe, expect, it } from 'vitest';
import { escapeDeep, escapeMarkdown, escapeMrkdwn } from '../../../src/report/escape.js';

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
