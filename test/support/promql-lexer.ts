/**
 * Just enough of Prometheus's PromQL lexer (promql/parser/lex.go) to read back what the context stage sends:
 * identifiers, punctuation, durations, numbers and double-quoted strings with Go's escapes. Independent of
 * src/context/promql.ts on purpose, so a quoting bug there cannot hide here.
 */
export type Token = { kind: 'ident' | 'string' | 'punct' | 'number' | 'duration'; text: string; value?: string };

export function lexPromql(q: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < q.length) {
    const c = q[i]!;
    if (c === ' ') {
      i++;
    } else if (c === '"') {
      const start = i;
      let value = '';
      i++;
      for (;;) {
        if (i >= q.length) throw new Error(`unterminated string at ${start}`);
        const ch = q[i]!;
        if (ch === '\n') throw new Error(`newline in string at ${i}`);
        if (ch === '"') {
          i++;
          break;
        }
        if (ch === '\\') {
          const e = q[i + 1];
          const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"' };
          if (e !== undefined && e in simple) {
            value += simple[e];
            i += 2;
          } else if (e === 'u' || e === 'U' || e === 'x') {
            const n = e === 'u' ? 4 : e === 'U' ? 8 : 2;
            const hex = q.slice(i + 2, i + 2 + n);
            if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) throw new Error(`bad \\${e} escape at ${i}`);
            const cp = parseInt(hex, 16);
            if (cp >= 0xd800 && cp <= 0xdfff) throw new Error(`surrogate escape at ${i}`);
            value += String.fromCodePoint(cp);
            i += 2 + n;
          } else {
            throw new Error(`unknown escape \\${e} at ${i}`);
          }
        } else {
          const cp = q.codePointAt(i)!;
          if (cp >= 0xd800 && cp <= 0xdfff) throw new Error(`lone surrogate at ${i}`);
          const s = String.fromCodePoint(cp);
          value += s;
          i += s.length;
        }
      }
      out.push({ kind: 'string', text: q.slice(start, i), value });
    } else if (/[A-Za-z_:]/.test(c)) {
      const m = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(q.slice(i))!;
      out.push({ kind: 'ident', text: m[0] });
      i += m[0].length;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(ms|[smhdwy])?/.exec(q.slice(i))!;
      out.push({ kind: m[1] ? 'duration' : 'number', text: m[0] });
      i += m[0].length;
    } else {
      const two = q.slice(i, i + 2);
      if (two === '=~' || two === '!=' || two === '!~') {
        out.push({ kind: 'punct', text: two });
        i += 2;
      } else if ('{}()[],='.includes(c)) {
        out.push({ kind: 'punct', text: c });
        i++;
      } else {
        throw new Error(`unexpected ${JSON.stringify(c)} at ${i}`);
      }
    }
  }
  return out;
}

/** The label matchers of every `{…}` in a query, in order. */
export function selectorsOf(q: string): { name: string; op: string; value: string }[][] {
  const toks = lexPromql(q);
  const selectors: { name: string; op: string; value: string }[][] = [];
  for (let i = 0; i < toks.length; i++) {
    if (toks[i]!.text !== '{') continue;
    const matchers: { name: string; op: string; value: string }[] = [];
    i++;
    while (toks[i]?.text !== '}') {
      const [name, op, value] = [toks[i], toks[i + 1], toks[i + 2]];
      if (name?.kind !== 'ident' || op?.kind !== 'punct' || value?.kind !== 'string') throw new Error(`bad matcher at token ${i} of ${q}`);
      matchers.push({ name: name.text, op: op.text, value: value.value! });
      i += 3;
      if (toks[i]?.text === ',') i++;
      else if (toks[i]?.text !== '}') throw new Error(`expected , or } at token ${i} of ${q}`);
    }
    selectors.push(matchers);
  }
  return selectors;
}

/** The query with each selector's body replaced by `{}`: what is left is the query's shape. */
export function shapeOf(q: string): string {
  return lexPromql(q)
    .filter((t, i, all) => {
      // Drop everything between { and }.
      let depth = 0;
      for (let j = 0; j < i; j++) depth += all[j]!.text === '{' ? 1 : all[j]!.text === '}' ? -1 : 0;
      return depth === 0 || t.text === '}';
    })
    .map((t) => t.text)
    .join(' ');
}
