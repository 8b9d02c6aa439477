/**
 * Escaping for each output format. Everything that came from a node or an alert goes through one
 * of these before it reaches a template; the template's own text is trusted operator wording.
 */
export type OutputFormat = 'markdown' | 'mrkdwn' | 'html' | 'text';

// CommonMark lets any ASCII punctuation be backslash-escaped. These are the characters that can
// start emphasis, code, links, images, tables (|), headings, raw HTML, entities and GFM autolinks
// (`http://`, `x@y`, `www.`); the rest are left alone so paths stay readable in the raw Markdown.
const MD_SPECIAL = /[\\`*_{}[\]<>#|~&!@$]|:(?=\/\/)/g;
const WORD_CHAR = /[\p{L}\p{N}]/u;

/**
 * Plain text in Markdown: escaped only where Markdown would misread it, so the raw report stays readable
 * (`x86_64`, `kernel 6.18.44` as they are). Node-side names are better shown as code (CodeText below).
 */
export function escapeMarkdown(s: string): string {
  const t = replaceControl(s)
    // Whitespace at either end means nothing in rendered Markdown, but four leading spaces can start a code block
    // and two trailing ones a line break.
    .trim();
  return (
    t
      .replace(MD_SPECIAL, (c, at: number) =>
        // `_` between two letters or digits cannot open or close emphasis (GFM: no intraword `_` emphasis).
        c === '_' && WORD_CHAR.test(t[at - 1] ?? '') && WORD_CHAR.test(t[at + 1] ?? '') ? c : `\\${c}`,
      )
      .replace(/www\./gi, (m) => `${m.slice(0, 3)}\\.`)
      // A value may begin a list item's text ("- {{path}} is being read"): a leading list marker there would nest a
      // list, and a leading "=" or "-" run could underline a heading.
      .replace(/^[-+=]/, (c) => `\\${c}`)
      .replace(/^(\d+)([.)])(?=\s|$)/, '$1\\$2')
  );
}

/**
 * A code span: shown exactly as it is (no link, emphasis or HTML can form inside), fenced with more backticks
 * than any run inside it. Not for table cells: GFM splits a row at `|` before it reads code spans.
 */
export function markdownCode(s: string): string {
  const t = replaceControl(s);
  if (t === '') return '';
  const longest = Math.max(0, ...(t.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  // A span that starts or ends with a backtick (or a space) needs a space inside the fence, which the reader strips.
  const pad = /^[` ]|[` ]$/.test(t) ? ' ' : '';
  return `${fence}${pad}${t}${pad}${fence}`;
}

/** A name from the node (a process, a path) in running text: a code span in Markdown, plain escaped text elsewhere. */
export class CodeText {
  constructor(readonly text: string) {}
}

/** Text the bot made itself (its own links): left as it is in Markdown and plain text, escaped elsewhere. */
export class OwnText {
  constructor(readonly text: string) {}
}

/** Slack mrkdwn: only &, < and > are special (they build mentions and links). */
export function escapeMrkdwn(s: string): string {
  return replaceControl(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const HTML_ENTITY: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** HTML text and quoted attribute values (every attribute the bot writes is quoted). */
export function escapeHtml(s: string): string {
  return showBidi(s).replace(/[&<>"']/g, (c) => HTML_ENTITY[c]!);
}

/** Newlines, NUL and other control characters would break a table row or a log line. */
export function replaceControl(s: string): string {
  // eslint-disable-next-line no-control-regex
  return showBidi(s).replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => (c === '\n' || c === '\t' ? ' ' : '\uFFFD'));
}

// Bidirectional-text controls: embeddings and overrides (U+202A–202E), isolates (U+2066–2069) and the marks
// (U+200E, U+200F, U+061C). In a node name, process name or path they reorder what follows, so
// `prod-db-1<U+202E>0019:lanretni-ved` displays as another host. No legitimate name needs one.
const BIDI_RUN = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]+/g;

/**
 * Shows a bidi control as `‹U+202E›`, and a run of them as `‹N bidi controls›`: inert, and the reader sees that
 * the name carried them. A run is one marker so that a label of thousands of controls does not grow eightfold
 * and push the rest of a Slack message past its length limit. Not `[U+202E]`: thousands of (escaped)
 * brackets make the Markdown lexer quadratic.
 */
export function showBidi(s: string): string {
  return s.replace(BIDI_RUN, (run) =>
    run.length === 1 ? `\u2039U+${run.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}\u203a` : `\u2039${run.length} bidi controls\u203a`,
  );
}

export function escapeFor(format: OutputFormat, s: string): string {
  switch (format) {
    case 'markdown':
      return escapeMarkdown(s);
    case 'mrkdwn':
      return escapeMrkdwn(s);
    case 'html':
      return escapeHtml(s);
    case 'text':
      return replaceControl(s);
  }
}

/**
 * Markup the bot made itself (Markdown rendered by marked with raw HTML disabled, its own SVG charts). It is the
 * one thing escapeDeep leaves as it is, and only for HTML output.
 */
export class TrustedHtml {
  constructor(readonly html: string) {}
}

/**
 * Escapes every string in a view model, deeply. Templates are compiled with `noEscape`, so this is
 * the single place where untrusted text is made safe — nothing depends on a template author
 * remembering a helper.
 */
export function escapeDeep<T>(value: T, format: OutputFormat): T {
  if (typeof value === 'string') return escapeFor(format, value) as T;
  if (value instanceof TrustedHtml) return (format === 'html' ? value.html : escapeFor(format, value.html)) as T;
  if (value instanceof CodeText) return (format === 'markdown' ? markdownCode(value.text) : escapeFor(format, value.text)) as T;
  if (value instanceof OwnText) return (format === 'markdown' || format === 'text' ? value.text : escapeFor(format, value.text)) as T;
  if (Array.isArray(value)) return value.map((v) => escapeDeep(v, format)) as T;
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = escapeDeep(v, format);
    return out as T;
  }
  return value;
}
