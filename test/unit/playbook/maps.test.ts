import { describe, expect, it } from 'vitest';
import { parseMaps, parseMapsLine } from '../../../src/playbook/maps.js';
import { fixture, parseError } from './helpers.js';

describe('parseMaps on the real maps zoo', () => {
  const maps = parseMaps(fixture('proc-maps-zoo.txt'));
  const byPath = (p: string) => maps.filter((m) => m.path === p);

  it('reads every line', () => {
    expect(maps).toHaveLength(fixture('proc-maps-zoo.txt').trimEnd().split('\n').length);
  });

  it('reads addresses, perms, offset, dev and inode', () => {
    const text = maps.find((m) => m.path.endsWith('/zoo') && m.perms === 'r-xp');
    expect(text).toMatchObject({ offset: 0x1000, dev: 'fe:00', inode: 2147052 });
    expect(text!.end - text!.start).toBe(0x1000);
  });

  it('keeps special names and anonymous mappings (no path, trailing space)', () => {
    for (const p of ['[heap]', '[stack]', '[vdso]', '[vvar]', '[vsyscall]']) expect(byPath(p)).toHaveLength(1);
    const anon = maps.filter((m) => m.path === '');
    expect(anon.length).toBeGreaterThanOrEqual(3);
    expect(anon.every((m) => m.inode === 0 && m.dev === '00:00')).toBe(true);
    expect(byPath('[vsyscall]')[0]?.start).toBe(0xffffffffff600000);
  });

  it('keeps shmem names: /dev/shm, memfd, SysV, /dev/zero (deleted)', () => {
    expect(byPath('/dev/shm/pft-fixture-shm')[0]?.perms).toBe('rw-s');
    expect(byPath('/memfd:pft-memfd (deleted)')).toHaveLength(1);
    expect(byPath('/SYSV00000000 (deleted)')).toHaveLength(1);
    // Both a MAP_SHARED|MAP_ANONYMOUS region and a shared mapping of /dev/zero show up this way.
    expect(byPath('/dev/zero (deleted)')).toHaveLength(2);
  });

  it('keeps " (deleted)" on deleted files and decodes \\012 in names', () => {
    expect(byPath('/var/tmp/pft-fixture-deleted.dat (deleted)')[0]?.perms).toBe('rw-p');
    expect(byPath('/var/tmp/pft-fixture new\nline.dat')).toHaveLength(1);
    expect(byPath('/var/tmp/pft-fixture (paren) name.dat')).toHaveLength(1);
  });
});

describe('parseMapsLine', () => {
  it('reads a line with no padding and an [anon:name] mapping', () => {
    expect(parseMapsLine('7f00-7f10 rw-p 00000000 00:00 0 [anon:jemalloc]')).toEqual({
      start: 0x7f00, end: 0x7f10, perms: 'rw-p', offset: 0, dev: '00:00', inode: 0, path: '[anon:jemalloc]',
    });
    expect(parseMapsLine('7f00-7f10 rw-p 00000000 00:00 0').path).toBe('');
    expect(parseMapsLine('7f00-7f10 r--s 00000000 103:02 12                        /a b  ').path).toBe('/a b  ');
  });

  it('rejects malformed lines with their line number', () => {
    expect(parseError(() => parseMaps('7f00-7f10 rw-p 00000000 00:00 0\ngarbage\n')).message).toMatch(/line 2/);
    expect(parseError(() => parseMapsLine('7f00-7f10 rwxq 0 00:00 0')).code).toBe('parse_failed');
  });
});
