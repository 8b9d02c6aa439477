import type { HotRegions } from '../model/verdict.js';

/**
 * Where in a file its major faults land: each fault address turned into an offset in the file (address −
 * mapping start + mapping offset), counted in equal buckets over the extent the processes map, and the hottest
 * ranges that together hold most of the faults. For a database this names the table or index region; for a
 * binary, the part of its text being read again. Pure.
 */

/** Buckets over the mapped extent: the strip chart's resolution. */
export const HOT_BUCKETS = 64;

/** The hottest ranges are picked until they hold this share of the file's faults. */
export const HOT_SHARE = 0.8;

/** Ranges listed at most. */
export const HOT_RANGES = 5;

/** Fewer faults in the file than this say nothing about where they cluster. */
export const HOT_MIN_FAULTS = 20;

export function hotRegions(path: string, offsets: readonly number[], extentBytes: number, pageSize = 4096): HotRegions | null {
  if (offsets.length < HOT_MIN_FAULTS || extentBytes <= 0) return null;
  // Whole pages per bucket, so that ranges end on page boundaries.
  const pages = Math.ceil(extentBytes / pageSize);
  const bucketBytes = Math.max(1, Math.ceil(pages / HOT_BUCKETS)) * pageSize;
  const n = Math.ceil(extentBytes / bucketBytes);
  const buckets = new Array<number>(n).fill(0);
  for (const off of offsets) buckets[Math.min(n - 1, Math.max(0, Math.floor(off / bucketBytes)))]!++;
  const total = offsets.length;

  // The fewest buckets holding HOT_SHARE of the faults (fullest first), then joined where adjacent.
  const order = buckets.map((c, i) => ({ c, i })).sort((a, b) => b.c - a.c || a.i - b.i);
  const chosen = new Set<number>();
  let held = 0;
  for (const { c, i } of order) {
    if (held >= total * HOT_SHARE || c === 0) break;
    chosen.add(i);
    held += c;
  }
  const ranges: HotRegions['ranges'] = [];
  for (let i = 0; i < n; i++) {
    if (!chosen.has(i)) continue;
    let j = i;
    let faults = 0;
    while (j < n && chosen.has(j)) faults += buckets[j++]!;
    ranges.push({ start: i * bucketBytes, end: Math.min(extentBytes, j * bucketBytes), faults, share: faults / total });
    i = j - 1;
  }
  ranges.sort((a, b) => b.faults - a.faults || a.start - b.start);
  const hotBytes = ranges.reduce((s, r) => s + (r.end - r.start), 0);
  return {
    path,
    faults: total,
    extentBytes,
    bucketBytes,
    buckets,
    ranges: ranges.slice(0, HOT_RANGES),
    hotShare: held / total,
    hotBytes,
    hotRanges: ranges.length,
  };
}
