/**
 * PromQL text built from label values we do not control (alert labels, inventory). Every value goes
 * through `promqlString`, so it can only ever be the content of one double-quoted string literal: it can
 * end no matcher, add no operator and open no other selector. Label names are checked against
 * Prometheus's own alphabet instead, because they appear unquoted.
 */

const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function isLabelName(s: string): boolean {
  return LABEL_NAME.test(s);
}

/**
 * A PromQL double-quoted string literal holding exactly `value`. Backslash and double quote are
 * backslash-escaped; control characters (a raw newline would end the literal with an error) and the
 * line/paragraph separators become `\u` escapes. A lone UTF-16 surrogate cannot be sent as UTF-8 and is
 * not a valid `\u` escape either, so it becomes U+FFFD, as any UTF-8 encoder would make it.
 */
export function promqlString(value: string): string {
  let out = '"';
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) out += '\ufffd';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp === 0x2028 || cp === 0x2029) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** RE2 metacharacters, for a value that must match literally inside a `=~` matcher. */
export function regexLiteral(value: string): string {
  return value.replace(/[\\^$.|?*+()[\]{}]/g, (c) => `\\${c}`);
}

export type LabelMatcher = { name: string; op: '=' | '!=' | '=~' | '!~'; value: string };

/**
 * `{a="1",b=~"x"}` from matchers, in the order given. Throws on a label name outside Prometheus's
 * alphabet (configuration validates names, so this guards the code, not the input).
 */
export function selector(matchers: LabelMatcher[]): string {
  return `{${matchers
    .map((m) => {
      if (!isLabelName(m.name)) throw new Error(`not a Prometheus label name: ${JSON.stringify(m.name)}`);
      return `${m.name}${m.op}${promqlString(m.value)}`;
    })
    .join(',')}}`;
}

/** Equality matchers for a label set, sorted by name so the same set always gives the same query. */
export function equalityMatchers(labels: Record<string, string>): LabelMatcher[] {
  return Object.keys(labels)
    .sort()
    .map((name) => ({ name, op: '=' as const, value: labels[name]! }));
}
