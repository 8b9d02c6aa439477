import { describe, expect, it } from 'vitest';
import { parseMeminfo } from '../../../src/playbook/meminfo.js';
import { parseNodeSection, toolMessage, unescapeMountField } from '../../../src/playbook/node.js';
import { parsePsi } from '../../../src/playbook/psi.js';
import { parseVmstat } from '../../../src/playbook/vmstat.js';
import { fixture, parseError } from './helpers.js';

describe('parseVmstat', () => {
  it('picks pgmajfault, pswpin and pswpout out of the real /proc/vmstat', () => {
    const text = fixture('proc-vmstat.txt');
    const want = (k: string) => Number(new RegExp(`^${k} (\\d+)$`, 'm').exec(text)?.[1]);
    expect(parseVmstat(text, 12.5)).toEqual({ t: 12.5, pgmajfault: want('pgmajfault'), pswpin: want('pswpin'), pswpout: want('pswpout') });
  });

  it('accepts grep -H lines and defaults the swap counters to 0', () => {
    expect(parseVmstat('/proc/vmstat:pgmajfault 7\n', 1)).toEqual({ t: 1, pgmajfault: 7, pswpin: 0, pswpout: 0 });
  });

  it('needs pgmajfault and numbers', () => {
    expect(parseError(() => parseVmstat('pswpin 1\n', 0)).message).toMatch(/pgmajfault/);
    expect(parseError(() => parseVmstat('pgmajfault x\n', 0)).message).toMatch(/line 1/);
  });
});

describe('parsePsi', () => {
  it('reads the real /proc/pressure/memory', () => {
    const psi = parsePsi(fixture('proc-pressure-memory.txt'));
    expect(psi.some.total).toBeGreaterThan(0);
    expect(psi.full).not.toBeNull();
    expect(Object.keys(psi.some)).toEqual(['avg10', 'avg60', 'avg300', 'total']);
  });

  it('allows a missing full line, rejects junk', () => {
    expect(parsePsi('some avg10=1.50 avg60=0.00 avg300=0.00 total=42\n')).toEqual({
      some: { avg10: 1.5, avg60: 0, avg300: 0, total: 42 }, full: null,
    });
    expect(parseError(() => parsePsi('some avg10=x\n')).code).toBe('parse_failed');
    expect(parseError(() => parsePsi('')).message).toMatch(/no "some" line/);
  });
});

describe('parseMeminfo', () => {
  it('reads the real /proc/meminfo', () => {
    const text = fixture('proc-meminfo.txt');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB$`, 'm').exec(text)?.[1]);
    expect(parseMeminfo(text)).toEqual({
      memTotalKb: kb('MemTotal'), memAvailableKb: kb('MemAvailable'), swapTotalKb: kb('SwapTotal'), swapFreeKb: kb('SwapFree'),
    });
  });

  it('estimates MemAvailable on old kernels and needs MemTotal', () => {
    expect(parseMeminfo('MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 5 kB\nCached: 20 kB\n').memAvailableKb).toBe(35);
    expect(parseError(() => parseMeminfo('MemFree: 10 kB\n')).message).toMatch(/MemTotal/);
  });
});

describe('cgroup fixtures', () => {
  it('hybrid v1+v2 and v2-only files have the documented line shapes', () => {
    const hybrid = fixture('proc-cgroup-hybrid.txt').trimEnd().split('\n');
    expect(hybrid.every((l) => /^\d+:[^:]*:\/.*$/.test(l))).toBe(true);
    expect(hybrid).toContain('0::/');
    expect(fixture('proc-cgroup-v2-handwritten.txt').trimEnd().split('\n')).toEqual(['0::/system.slice/postgresql@15-main.service']);
  });
});

describe('node section helpers', () => {
  it('decodes /proc/mounts escapes', () => {
    expect(unescapeMountField('/mnt/a\\040b\\012c\\134d')).toBe('/mnt/a b\nc\\d');
  });

  it('picks the telling line of a tool message', () => {
    expect(toolMessage('! Error:\n! Access is limited.\n! more\n')).toBe('Access is limited.');
    expect(toolMessage("! event syntax error: 'x'\n! \n! Error:\tNo permissions to read y\n")).toBe('No permissions to read y');
    expect(toolMessage('! just this\n')).toBe('just this');
    expect(toolMessage('')).toBe('');
  });

  it('rejects a non-numeric uid', () => {
    const s = { name: 'node', attrs: {}, line: 2, body: 'hostname h\nkernel k\nuid \npagesize 4096\nnproc 1\n' };
    expect(parseError(() => parseNodeSection(s)).message).toMatch(/uid/);
  });
});
