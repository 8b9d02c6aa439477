import type { HotRegions } from '../model/verdict.js';

/** Where in a file its faults land, in words: the report's and the Slack verdict's line (analysis/hot-regions.ts finds the ranges). */

/** "82% of faults in 64 MiB (6% of the 1 GiB mapped), 0–64 MiB": the line for Slack and the report. */
export function hotRegionsLine(h: HotRegions): string {
  const top = h.ranges[0];
  const where = h.hotRanges === 1 && top ? `, at ${fmtBytes(top.start)}–${fmtBytes(top.end)}` : ` in ${h.hotRanges} ranges`;
  return `${Math.round(h.hotShare * 100)}% of the faults in ${fmtBytes(h.hotBytes)} of the ${fmtBytes(h.extentBytes)} mapped (${Math.round((h.hotBytes / h.extentBytes) * 100)}%)${where}`;
}

export function fmtBytes(b: number): string {
  if (b === 0) return '0';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = b;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const s = Number.isInteger(v) || v >= 100 ? Math.round(v).toString() : v.toFixed(1).replace(/\.0$/, '');
  return `${s} ${units[u]}`;
}
