import { describe, expect, it } from 'vitest';
import { parseBpftrace } from '../../../src/playbook/bpftrace.js';
import { parsePerfScript } from '../../../src/playbook/perf-script.js';
import { parseTracepoint } from '../../../src/playbook/tracepoint.js';
import { fixture, parseError } from './helpers.js';

describe('perf tier: perf script -F sw:pid,tid,time,addr', () => {
  it('reads every major fault of the real capture', () => {
    const text = fixture('perf-script-major-faults.txt');
    const out = parsePerfScript(text);
    expect(out.samples).toHaveLength(text.trimEnd().split('\n').length);
    expect(out.lost).toBe(0);
    expect(out.samples[0]).toEqual({ pid: 27793, tid: 27793, time: 1168.470389, addr: 0x7f2c2fa62000, major: true });
    // The reader reads one byte per page, in order: consecutive pages.
    expect((out.samples[1]?.addr ?? 0) - (out.samples[0]?.addr ?? 0)).toBe(4096);
  });

  it('counts PERF_RECORD_LOST records (real excerpt)', () => {
    const out = parsePerfScript(fixture('perf-script-lost-excerpt.txt'));
    expect(out.lost).toBe(8);
    expect(out.samples).toHaveLength(5);
    expect(out.lines).toBe(6);
  });

  it('reads lines squeezed by tr -s and ignores blank lines', () => {
    const out = parsePerfScript(' 12/13 1.5: 7f00\n\n');
    expect(out.samples).toEqual([{ pid: 12, tid: 13, time: 1.5, addr: 0x7f00, major: true }]);
  });

  it('rejects other lines with their line number', () => {
    expect(parseError(() => parsePerfScript(' 1/1 1.0: 7f00\nperf: oops\n')).message).toMatch(/line 2/);
    expect(parseError(() => parsePerfScript(' 1/1 1.0: zz\n')).message).toMatch(/addr/);
  });
});

describe('tracepoint tier: exceptions:page_fault_user', () => {
  it('reads the real capture, major unknown', () => {
    const text = fixture('perf-script-tracepoint.txt');
    const out = parseTracepoint(text);
    expect(out.samples).toHaveLength(text.trimEnd().split('\n').length);
    expect(out.samples[0]).toEqual({ pid: 27793, tid: 27793, time: 1170.770508, addr: 0x7f2c2fcb0000, major: null });
    expect(out.samples.every((s) => s.major === null)).toBe(true);
  });

  it('needs address=', () => {
    expect(parseError(() => parseTracepoint(' 1/1 1.0: ip=0x1 error_code=0x4\n')).message).toMatch(/address=/);
  });
});

describe('bpftrace tier (hand-written in the program format)', () => {
  it('reads samples in seconds, counts lost events, skips the banner', () => {
    const out = parseBpftrace(fixture('bpftrace-handwritten.txt'));
    expect(out.samples).toHaveLength(5);
    expect(out.lost).toBe(3);
    expect(out.samples[0]).toEqual({ pid: 27793, tid: 27793, time: 1168.470389021, addr: 0x7f2c2fa62000, major: true });
    expect(out.samples[2]?.tid).toBe(27801);
  });

  it('rejects other lines', () => {
    expect(parseError(() => parseBpftrace('ERROR: kprobe failed\n')).message).toMatch(/line 1/);
    expect(parseError(() => parseBpftrace('1 2 3 zz 1\n')).code).toBe('parse_failed');
  });
});
