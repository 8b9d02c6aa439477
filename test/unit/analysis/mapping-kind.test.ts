import { describe, expect, it } from 'vitest';
import { causeOf, classifyMapping } from '../../../src/analysis/mapping-kind.js';
import type { MappingKind } from '../../../src/model/verdict.js';
import { mapEntry } from './builders.js';

const TMPFS = ['/dev/shm', '/run', '/tmp/', '/var/lib/ramdisk'];
const S = 0x7f3a00000000;
const E = 0x7f3c00000000;

function classify(path: string, perms = 'rw-p', dev?: string) {
  return classifyMapping(mapEntry(S, E, path, perms, dev === undefined ? {} : { dev }), TMPFS);
}

describe('classifyMapping', () => {
  it.each<[string, string, MappingKind, string | null, string]>([
    ['', 'rw-p', 'anonymous', null, 'anonymous 7f3a00000000–7f3c00000000'],
    ['[anon:libc_malloc]', 'rw-p', 'anonymous', null, '[anon:libc_malloc]'],
    ['/dev/zero', 'rw-p', 'anonymous', null, 'anonymous 7f3a00000000–7f3c00000000'],
    ['[heap]', 'rw-p', 'heap', null, '[heap]'],
    ['[stack]', 'rw-p', 'stack', null, '[stack]'],
    ['[stack:4243]', 'rw-p', 'stack', null, '[stack:4243]'],
    ['/dev/shm/pg_shm.1', 'rw-s', 'shmem', '/dev/shm/pg_shm.1', '/dev/shm/pg_shm.1'],
    ['memfd:wayland-shm (deleted)', 'rw-s', 'shmem', 'memfd:wayland-shm', 'memfd:wayland-shm'],
    ['memfd:jit', 'r-xs', 'shmem', 'memfd:jit', 'memfd:jit'],
    ['/memfd:old-kernel (deleted)', 'rw-s', 'shmem', 'memfd:old-kernel', 'memfd:old-kernel'],
    ['/SYSV0000162e (deleted)', 'rw-s', 'shmem', '/SYSV0000162e', '/SYSV0000162e'],
    ['/SYSV00000000', 'rw-s', 'shmem', '/SYSV00000000', '/SYSV00000000'],
    ['/dev/zero (deleted)', 'rw-s', 'shmem', null, 'shared anonymous 7f3a00000000–7f3c00000000'],
    ['[anon_shmem:arena]', 'rw-s', 'shmem', null, '[anon_shmem:arena]'],
    ['/drm mm object (deleted)', 'rw-s', 'shmem', '/drm mm object', '/drm mm object'],
    ['/usr/bin/postgres', 'r-xp', 'file-code', '/usr/bin/postgres', '/usr/bin/postgres'],
    ['/usr/lib/x86_64-linux-gnu/libc.so.6', 'r--p', 'file-data', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6'],
    ['/data/block', 'r--s', 'file-data', '/data/block', '/data/block'],
    ['[vdso]', 'r-xp', 'special', null, '[vdso]'],
    ['[vvar]', 'r--p', 'special', null, '[vvar]'],
    ['[vsyscall]', '--xp', 'special', null, '[vsyscall]'],
    ['[uprobes]', 'r-xp', 'special', null, '[uprobes]'],
    ['anon_inode:[perf_event]', 'rw-s', 'special', null, 'anon_inode:[perf_event]'],
    ['/dev/nvidia0', 'rw-s', 'special', null, '/dev/nvidia0'],
  ])('%s (%s) is %s', (path, perms, kind, outPath, label) => {
    const c = classify(path, perms);
    expect(c).toMatchObject({ kind, path: outPath, label, cause: causeOf(kind) });
  });

  it('sends swap-backed kinds to swap, file data to file, text to code, the rest to other', () => {
    expect(['anonymous', 'heap', 'stack', 'shmem'].map((k) => causeOf(k as MappingKind))).toEqual(['swap', 'swap', 'swap', 'swap']);
    expect(causeOf('file-data')).toBe('file');
    expect(causeOf('file-code')).toBe('code');
    expect(causeOf('special')).toBe('other');
    expect(causeOf('unresolved')).toBe('other');
  });

  it('treats any file under a tmpfs mount as shared memory, so its faults are swap-ins', () => {
    expect(classify('/run/user/1000/cache.db', 'rw-s', '00:1b')).toMatchObject({ kind: 'shmem', cause: 'swap', path: '/run/user/1000/cache.db' });
    expect(classify('/tmp/spill.bin', 'r--p', '00:2a')).toMatchObject({ kind: 'shmem', cause: 'swap' });
    expect(classify('/var/lib/ramdisk', 'r--p', '00:2a')).toMatchObject({ kind: 'shmem' }); // the mount point itself
    expect(classify('/runner/data', 'r--p', '00:2a')).toMatchObject({ kind: 'file-data' }); // a prefix is not a parent
    expect(classify('/tmp/x.so', 'r-xp', '00:2a')).toMatchObject({ kind: 'shmem', cause: 'swap' }); // even executable
  });

  it('trusts a real block device over the mount list (a container sees its own /tmp)', () => {
    expect(classify('/tmp/spill.bin', 'r--p', '08:01')).toMatchObject({ kind: 'file-data', cause: 'file' });
    expect(classify('/tmp/spill.bin', 'r--p', 'fd:00')).toMatchObject({ kind: 'file-data' });
  });

  it('treats every path as tmpfs when the root itself is a tmpfs', () => {
    expect(classifyMapping(mapEntry(S, E, '/opt/app/data', 'r--p', { dev: '00:02' }), ['/'])).toMatchObject({ kind: 'shmem' });
  });

  it('flags deleted files and keeps the path without the suffix', () => {
    expect(classify('/usr/lib/libssl.so.3 (deleted)', 'r-xp')).toMatchObject({
      kind: 'file-code',
      path: '/usr/lib/libssl.so.3',
      label: '/usr/lib/libssl.so.3 (deleted)',
      deleted: true,
    });
    expect(classify('/dev/shm/old (deleted)', 'rw-s')).toMatchObject({ kind: 'shmem', deleted: true, path: '/dev/shm/old' });
    // Always "deleted" by construction: not worth a note.
    expect(classify('memfd:x (deleted)').deleted).toBe(false);
    expect(classify('/SYSV0000162e (deleted)').deleted).toBe(false);
    expect(classify('/dev/zero (deleted)').deleted).toBe(false);
    expect(classify('/data/block').deleted).toBe(false);
  });

  it('keeps escaped newlines in names as /proc shows them', () => {
    expect(classify('/data/odd\\012name', 'r--p')).toMatchObject({ kind: 'file-data', path: '/data/odd\\012name' });
  });
});
