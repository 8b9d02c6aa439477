import { TriageError } from '../errors.js';

/**
 * Splits playbook output into sections. A section starts with a marker line
 *
 *     @@pft:NONCE NAME key=value key=value
 *
 * and its body is every byte after that line up to the next marker line. The nonce is random per step, and no
 * text a process on the node controls can start a line with it (see playbook.sh), so a forged marker cannot
 * split the output differently.
 */
export const MARKER_PREFIX = '@@pft:';

/** What `newNonce()` produces and the playbook accepts: 16 to 64 lowercase hex digits. */
export const NONCE_RE = /^[0-9a-f]{16,64}$/;

export interface Section {
  name: string;
  attrs: Readonly<Record<string, string>>;
  /** Raw text after the marker line, up to the next marker line (keeps its final newline, if any). */
  body: string;
  /** 1-based line number of the marker line in the whole output. */
  line: number;
}

const MARKER_REST = /^([a-z][a-z0-9-]*)((?: [a-z][a-z0-9_]*=[^ ]*)*)$/;

export function parseFailed(message: string): TriageError {
  return new TriageError('parse_failed', message);
}

/** Splits `stdout` into its sections. Text before the first marker is ignored. */
export function splitSections(stdout: string, nonce: string): Section[] {
  if (!NONCE_RE.test(nonce)) throw parseFailed(`invalid nonce ${JSON.stringify(nonce)}`);
  const head = `${MARKER_PREFIX}${nonce} `;
  const sections: Section[] = [];
  let current: { name: string; attrs: Record<string, string>; line: number; bodyStart: number } | undefined;
  let pos = 0;
  let lineNo = 0;
  while (pos < stdout.length) {
    lineNo++;
    const nl = stdout.indexOf('\n', pos);
    const end = nl === -1 ? stdout.length : nl;
    const next = nl === -1 ? stdout.length : nl + 1;
    if (stdout.startsWith(head, pos)) {
      const rest = stdout.slice(pos + head.length, end);
      const m = MARKER_REST.exec(rest);
      if (!m) throw parseFailed(`line ${lineNo}: malformed marker line ${JSON.stringify(rest.slice(0, 120))}`);
      if (current) sections.push(finish(current, stdout.slice(current.bodyStart, pos)));
      const attrs: Record<string, string> = {};
      for (const kv of (m[2] ?? '').split(' ').filter(Boolean)) {
        const eq = kv.indexOf('=');
        attrs[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
      current = { name: m[1] ?? '', attrs, line: lineNo, bodyStart: next };
    }
    pos = next;
  }
  if (current) sections.push(finish(current, stdout.slice(current.bodyStart)));
  return sections;
}

function finish(c: { name: string; attrs: Record<string, string>; line: number }, body: string): Section {
  return { name: c.name, attrs: c.attrs, line: c.line, body };
}

/**
 * Checks the `begin step=STEP` … `end step=STEP` envelope and returns the sections between them (inclusive).
 * Output without its end marker was cut (by the session's byte limit, a timeout or a dropped channel).
 */
export function checkEnvelope(sections: readonly Section[], step: string): { begin: Section; end: Section } {
  const begin = sections[0];
  if (!begin) throw parseFailed(`${step}: no section markers in the output (wrong nonce, or the step did not start)`);
  if (begin.name !== 'begin' || begin.attrs.step !== step) {
    throw parseFailed(`${step}: line ${begin.line}: expected "begin step=${step}", got "${begin.name}"`);
  }
  const end = sections[sections.length - 1];
  if (!end || end.name !== 'end' || end.attrs.step !== step) {
    const last = end ?? begin;
    throw parseFailed(`${step}: output truncated: no "end step=${step}" marker (last section "${last.name}" at line ${last.line})`);
  }
  return { begin, end };
}

/** The lines of a body, without the empty string after its final newline. */
export function bodyLines(body: string): string[] {
  if (body === '') return [];
  const lines = body.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** A required attribute parsed as a finite number. */
export function numAttr(s: Section, key: string): number {
  const v = s.attrs[key];
  const n = v === undefined || v === '' ? NaN : Number(v);
  if (!Number.isFinite(n)) throw parseFailed(`section "${s.name}" at line ${s.line}: attribute ${key}=${v ?? '(missing)'} is not a number`);
  return n;
}

export function strAttr(s: Section, key: string): string {
  const v = s.attrs[key];
  if (v === undefined) throw parseFailed(`section "${s.name}" at line ${s.line}: attribute ${key} is missing`);
  return v;
}

/** Parses a decimal integer field, throwing parse_failed with `where` on anything else. */
export function intField(v: string | undefined, where: string): number {
  if (v === undefined || !/^-?\d+$/.test(v)) throw parseFailed(`${where}: expected an integer, got ${JSON.stringify(v ?? '(nothing)')}`);
  return Number(v);
}

/** Parses a hexadecimal field (with or without 0x). */
export function hexField(v: string | undefined, where: string): number {
  const m = v === undefined ? null : /^(?:0x)?([0-9a-fA-F]{1,16})$/.exec(v);
  if (!m) throw parseFailed(`${where}: expected a hex number, got ${JSON.stringify(v ?? '(nothing)')}`);
  return parseInt(m[1] ?? '', 16);
}
