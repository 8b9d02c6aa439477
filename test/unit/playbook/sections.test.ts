import { describe, expect, it } from 'vitest';
import { bodyLines, checkEnvelope, splitSections } from '../../../src/playbook/sections.js';
import { NONCE, parseError } from './helpers.js';

const M = `@@pft:${NONCE}`;

describe('splitSections', () => {
  it('splits on marker lines and keeps bodies byte for byte', () => {
    const out = `${M} begin step=probe version=1\n${M} node\nhostname a b\n\nkernel 6\n${M} end step=probe status=ok\n`;
    const s = splitSections(out, NONCE);
    expect(s.map((x) => x.name)).toEqual(['begin', 'node', 'end']);
    expect(s[0]?.attrs).toEqual({ step: 'probe', version: '1' });
    expect(s[1]?.body).toBe('hostname a b\n\nkernel 6\n');
    expect(s[1]?.line).toBe(2);
    expect(s[2]?.attrs.status).toBe('ok');
    expect(bodyLines(s[1]?.body ?? '')).toEqual(['hostname a b', '', 'kernel 6']);
  });

  it('accepts empty attribute values and a last line without newline', () => {
    const s = splitSections(`${M} x a= b=1\nbody`, NONCE);
    expect(s[0]?.attrs).toEqual({ a: '', b: '1' });
    expect(s[0]?.body).toBe('body');
  });

  it('ignores markers with another nonce, markers not at a line start, and text before the first marker', () => {
    const out = `noise\n${M} a\n@@pft:ffffffffffffffff b\nx ${M} c\n${M}d\n`;
    const s = splitSections(out, NONCE);
    expect(s.map((x) => x.name)).toEqual(['a']);
    expect(s[0]?.body).toBe(`@@pft:ffffffffffffffff b\nx ${M} c\n${M}d\n`);
  });

  it('rejects a malformed marker line and a bad nonce', () => {
    expect(parseError(() => splitSections(`${M} Bad!\n`, NONCE)).code).toBe('parse_failed');
    expect(parseError(() => splitSections(`${M} a k=v=w x\n`, NONCE)).message).toMatch(/line 1/);
    expect(parseError(() => splitSections('', '0123')).code).toBe('parse_failed');
    expect(parseError(() => splitSections('', 'ABCDEF0123456789')).code).toBe('parse_failed');
  });
});

describe('checkEnvelope', () => {
  it('needs begin and end of the same step', () => {
    const ok = splitSections(`${M} begin step=rank\n${M} end step=rank status=ok\n`, NONCE);
    expect(checkEnvelope(ok, 'rank').end.attrs.status).toBe('ok');
    expect(parseError(() => checkEnvelope(ok, 'probe')).message).toMatch(/expected "begin step=probe"/);
    const cut = splitSections(`${M} begin step=rank\n${M} snap i=0\n==> /proc/1/st`, NONCE);
    expect(parseError(() => checkEnvelope(cut, 'rank')).message).toMatch(/truncated.*"snap" at line 2/);
    expect(parseError(() => checkEnvelope([], 'rank')).message).toMatch(/no section markers/);
  });
});
