import { describe, expect, it } from 'vitest';
import { resolveSamples } from '../../../src/analysis/resolve.js';
import { ADDR, MB, mapEntry, procDetail, sample, samplesIn, typicalProc } from './builders.js';

const TMPFS = ['/dev/shm', '/run'];

describe('resolveSamples', () => {
  it('counts faults per (pid, mapping), largest first, with shares of all counted samples', () => {
    const r = resolveSamples([...samplesIn(1, ADDR.heap, 60), ...samplesIn(1, ADDR.anon, 30), ...samplesIn(1, ADDR.file, 10)], { 1: typicalProc(1) }, { tmpfsMounts: TMPFS });
    expect(r).toMatchObject({ counted: 100, major: 100, resolved: 100, unresolved: 0, minorIncluded: false });
    expect(r.byCause).toEqual({ swap: 90, file: 10, code: 0, other: 0 });
    expect(r.mappings.map((m) => [m.label, m.kind, m.cause, m.faults, m.share])).toEqual([
      ['[heap]', 'heap', 'swap', 60, 0.6],
      ['anonymous 7f3a00000000–7f3a20000000', 'anonymous', 'swap', 30, 0.3],
      ['/data/block', 'file-data', 'file', 10, 0.1],
    ]);
    expect(r.mappings[0]).toMatchObject({ pid: 1, comm: 'proc1', path: null, start: ADDR.heap, end: ADDR.heap + 64 * MB, deleted: false });
  });

  it('aggregates files across processes, by path and kind', () => {
    const libc = '/usr/lib/x86_64-linux-gnu/libc.so.6';
    const withLibcData = (pid: number) =>
      typicalProc(pid, { maps: [...typicalProc(pid).maps, mapEntry(ADDR.lib + 2 * MB, ADDR.lib + 3 * MB, libc, 'r--p')] });
    const r = resolveSamples(
      [...samplesIn(1, ADDR.file, 40), ...samplesIn(2, ADDR.file, 30), ...samplesIn(2, ADDR.lib, 20), ...samplesIn(3, ADDR.lib + 2 * MB, 10)],
      { 1: withLibcData(1), 2: withLibcData(2), 3: withLibcData(3) },
    );
    expect(r.files).toEqual([
      { path: '/data/block', kind: 'file-data', cause: 'file', faults: 70, share: 0.7, pids: [1, 2] },
      { path: libc, kind: 'file-code', cause: 'code', faults: 20, share: 0.2, pids: [2] },
      { path: libc, kind: 'file-data', cause: 'file', faults: 10, share: 0.1, pids: [3] },
    ]);
  });

  it('counts shared memory as swap and lists named shm objects as files', () => {
    const r = resolveSamples(samplesIn(1, ADDR.shm, 10), { 1: typicalProc(1) }, { tmpfsMounts: TMPFS });
    expect(r.byCause.swap).toBe(10);
    expect(r.files).toEqual([{ path: '/dev/shm/cache', kind: 'shmem', cause: 'swap', faults: 10, share: 1, pids: [1] }]);
  });

  it('counts unresolved samples: pids without maps and addresses outside every mapping', () => {
    const r = resolveSamples(
      [...samplesIn(1, ADDR.heap, 6), sample(1, 0x1000), sample(1, ADDR.stack + 2 * MB), ...samplesIn(99, ADDR.heap, 2), sample(98, ADDR.heap)],
      { 1: typicalProc(1), 98: procDetail(98, { maps: [] }) },
      { commOf: (pid) => (pid === 99 ? 'gone' : undefined) },
    );
    expect(r).toMatchObject({ counted: 11, resolved: 6, unresolved: 5, unresolvedNoMaps: 3 });
    const unresolved = r.mappings.filter((m) => m.kind === 'unresolved');
    expect(unresolved.map((m) => [m.pid, m.comm, m.faults, m.label, m.cause])).toEqual([
      [1, 'proc1', 2, 'outside every mapping', 'other'],
      [99, 'gone', 2, 'no maps (process exited or not read)', 'other'],
      [98, 'proc98', 1, 'no maps (process exited or not read)', 'other'],
    ]);
    expect(r.byCause).toEqual({ swap: 6, file: 0, code: 0, other: 0 });
    expect(r.mappings.reduce((s, m) => s + m.share, 0)).toBeCloseTo(1);
  });

  it('ignores known minor faults and counts unknown ones, flagging that minors are included', () => {
    const r = resolveSamples([...samplesIn(1, ADDR.heap, 5, false), ...samplesIn(1, ADDR.file, 4, null), ...samplesIn(1, ADDR.anon, 2, true)], { 1: typicalProc(1) });
    expect(r).toMatchObject({ counted: 6, major: 2, resolved: 6, minorIncluded: true });
    expect(r.byCause).toEqual({ swap: 2, file: 4, code: 0, other: 0 });
  });

  it('returns empty results for no samples', () => {
    const r = resolveSamples([], {});
    expect(r).toMatchObject({ counted: 0, resolved: 0, unresolved: 0, mappings: [], files: [], minorIncluded: false });
  });

  it('resolves each pid against its own maps', () => {
    const p1 = procDetail(1, { maps: [mapEntry(0x10000, 0x20000, '/a', 'r--p')] });
    const p2 = procDetail(2, { maps: [mapEntry(0x10000, 0x20000, '[heap]')] });
    const r = resolveSamples([sample(1, 0x10010), sample(2, 0x10010)], { 1: p1, 2: p2 });
    expect(r.mappings.map((m) => [m.pid, m.kind])).toEqual([
      [1, 'file-data'],
      [2, 'heap'],
    ]);
  });
  it('gives the file offsets of one file, across processes and mappings, when asked', () => {
    const page = 0x1000;
    // pid 1 maps the file twice (0–64 KiB, and 1 MiB on from file offset 1 MiB), pid 2 maps it deleted.
    const p1 = procDetail(1, {
      maps: [
        mapEntry(0x10000, 0x20000, '/data/t.db', 'r--s'),
        mapEntry(0x40000, 0x140000, '/data/t.db', 'r--s', { offset: MB }),
        mapEntry(0x200000, 0x210000, '/data/other.db', 'r--s'),
      ],
    });
    const p2 = procDetail(2, { maps: [mapEntry(0x70000, 0x80000, '/data/t.db (deleted)', 'r--s', { offset: 8 * page })] });
    const r = resolveSamples(
      [sample(1, 0x10000 + 3 * page), sample(2, 0x70000 + page), sample(1, 0x40000 + 2 * page), sample(1, 0x200000), sample(1, 0x10000, false), sample(1, 0x999999)],
      { 1: p1, 2: p2 },
    );
    expect(r.files.map((f) => f.path)).toEqual(['/data/t.db', '/data/other.db']);
    const t = r.fileOffsets('file-data', '/data/t.db')!;
    // Known minor faults and unresolved samples count nowhere; the extent is the furthest byte any mapping reaches.
    expect(t.offsets).toEqual([3 * page, 9 * page, MB + 2 * page]);
    expect(t.extentBytes).toBe(MB + 0x100000);
    expect(r.fileOffsets('file-data', '/data/other.db')).toEqual({ offsets: [0], extentBytes: 0x10000 });
    expect(r.fileOffsets('file-code', '/data/t.db')).toBeUndefined();
    expect(r.fileOffsets('file-data', '/data/none')).toBeUndefined();
  });
});
