import { describe, expect, it } from 'vitest';
import { analyze } from '../../../src/analysis/analyze.js';
import { HOT_MIN_FAULTS, hotRegions } from '../../../src/analysis/hot-regions.js';
import { fmtBytes, hotRegionsLine } from '../../../src/report/hot-regions.js';
import { hotRegionsChart } from '../../../src/report/chart.js';
import { mapEntry, procDetail, sample } from './builders.js';
import { captureFacts, rankFacts, steady } from './builders.js';

const MiB = 1024 * 1024;

describe('hotRegions', () => {
  it('finds the ranges that hold 80% of the faults and says what share of the file they are', () => {
    // 1 GiB mapped; 820 faults in the first 64 MiB, 180 spread over the rest.
    const offsets = [
      ...Array.from({ length: 820 }, (_, i) => (i * 4096 * 16) % (64 * MiB)),
      ...Array.from({ length: 180 }, (_, i) => 64 * MiB + ((i * 5 * MiB) % (960 * MiB))),
    ];
    const h = hotRegions('/data/db', offsets, 1024 * MiB)!;
    expect(h.bucketBytes).toBe(16 * MiB);
    expect(h.buckets).toHaveLength(64);
    expect(h.ranges[0]).toEqual({ start: 0, end: 64 * MiB, faults: 820, share: 0.82 });
    expect(h.hotShare).toBeCloseTo(0.82);
    expect(hotRegionsLine(h)).toBe('82% of the faults in 64 MiB of the 1 GiB mapped (6%), at 0–64 MiB');
  });

  it('joins adjacent hot buckets, lists separate ranges most faults first', () => {
    const offsets = [...Array.from({ length: 60 }, () => 100 * MiB + 4096), ...Array.from({ length: 40 }, () => 10 * MiB)];
    const h = hotRegions('/data/db', offsets, 128 * MiB)!;
    expect(h.ranges.map((r) => [r.start / MiB, r.end / MiB, r.faults])).toEqual([
      [100, 102, 60],
      [10, 12, 40],
    ]);
    expect(hotRegionsLine(h)).toBe('100% of the faults in 4 MiB of the 128 MiB mapped (3%) in 2 ranges');
  });

  it(`needs ${HOT_MIN_FAULTS} faults`, () => {
    expect(hotRegions('/f', new Array(HOT_MIN_FAULTS - 1).fill(0), MiB)).toBeNull();
    expect(hotRegions('/f', new Array(HOT_MIN_FAULTS).fill(0), MiB)).not.toBeNull();
  });

  it('formats sizes', () => {
    expect([0, 4096, 1.5 * MiB, 1024 * MiB].map(fmtBytes)).toEqual(['0', '4 KiB', '1.5 MiB', '1 GiB']);
  });
});

describe('hot regions from real addresses: address − mapping start + mapping offset', () => {
  it('uses the mapping offset, counts every mapping of the file, and draws an escaped strip chart', () => {
    const path = '/data/<db>';
    // The file mapped in two pieces: offset 0 (64 MiB) and offset 64 MiB (64 MiB) at another address.
    const maps = [mapEntry(0x7f00_0000_0000, 0x7f00_0000_0000 + 64 * MiB, path, 'r--s'), mapEntry(0x7f10_0000_0000, 0x7f10_0000_0000 + 64 * MiB, path, 'r--s', { offset: 64 * MiB })];
    // All faults in the second piece's first MiB: file offsets 64–65 MiB.
    const samples = Array.from({ length: 50 }, (_, i) => sample(7, 0x7f10_0000_0000 + (i % 256) * 4096));
    const rank = rankFacts({ procs: [{ pid: 7, majflt: [0, 10, 20, 30, 40, 50] }], pgmajfault: steady(10) });
    const capture = captureFacts({ samples, procs: [procDetail(7, { maps })] });
    const { analysis, verdict } = analyze({ node: 'n', rank, capture, topProcesses: 5 });
    expect(verdict.kind).toBe('mmap-read');
    expect(analysis.hotRegions).toMatchObject({ path, extentBytes: 128 * MiB, faults: 50 });
    expect(analysis.hotRegions!.ranges[0]).toMatchObject({ start: 64 * MiB, end: 66 * MiB, faults: 50 });
    const svg = hotRegionsChart(analysis);
    expect(svg).toContain('Where in /data/&lt;db&gt; the faults land');
    expect(svg).not.toContain('<db>');
  });
});
