import type { Analysis } from '../model/verdict.js';
import { escapeHtml } from './escape.js';
import { fmtBytes } from './hot-regions.js';

/**
 * A small SVG line chart of major faults per second over the sample window: the node's total,
 * the top processes, and the alert's threshold as a dashed line. Pure: numbers in, markup out;
 * process names are HTML-escaped. Returns '' when there is no series to draw.
 */
const W = 640;
const H = 200;
const PAD = { left: 56, right: 12, top: 12, bottom: 28 };
const COLORS = ['#0969da', '#cf222e', '#8250df', '#1a7f37', '#bc4c00'];

export function majfltChart(analysis: Pick<Analysis, 'system' | 'processes'>, maxProcesses = 3): string {
  const node = analysis.system.series;
  if (node.length < 2) return '';
  const procs = analysis.processes.filter((p) => p.series.length >= 2 && p.majfltPerSec > 0).slice(0, maxProcesses);
  const threshold = analysis.system.alertThresholdPerSec;
  const max = niceMax(Math.max(threshold, ...node, ...procs.flatMap((p) => p.series)));
  const n = Math.max(node.length, ...procs.map((p) => p.series.length));
  const x = (i: number) => PAD.left + (i * (W - PAD.left - PAD.right)) / Math.max(1, n - 1);
  const y = (v: number) => PAD.top + (H - PAD.top - PAD.bottom) * (1 - Math.min(v, max) / max);
  const line = (series: number[]) => series.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');

  const grid = [0, 0.5, 1]
    .map((f) => {
      const v = max * f;
      return `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v)}" y2="${y(v)}" class="grid"/><text x="${PAD.left - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}</text>`;
    })
    .join('');
  const series = [
    { label: 'node total', values: node, color: '#57606a', width: 2.5 },
    ...procs.map((p, i) => ({ label: `pid ${p.pid} ${p.comm}`, values: p.series, color: COLORS[i % COLORS.length]!, width: 1.75 })),
  ];
  const paths = series
    .map((s) => `<polyline fill="none" stroke="${s.color}" stroke-width="${s.width}" points="${line(s.values)}"><title>${escapeHtml(s.label)}</title></polyline>`)
    .join('');
  const legend = series
    .map((s, i) => `<g transform="translate(${PAD.left + i * 150},${H - 8})"><rect width="10" height="10" y="-9" fill="${s.color}"/><text x="14">${escapeHtml(truncate(s.label, 20))}</text></g>`)
    .join('');
  const thr = `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(threshold)}" y2="${y(threshold)}" class="threshold"/><text x="${W - PAD.right}" y="${y(threshold) - 4}" text-anchor="end" class="threshold-label">alert threshold ${fmt(threshold)}/s</text>`;
  return (
    `<figure class="chart"><svg viewBox="0 0 ${W} ${H}" role="img" aria-label="major faults per second during the sample window" xmlns="http://www.w3.org/2000/svg">` +
    `<style>text{font:11px system-ui,sans-serif;fill:currentColor}.grid{stroke:currentColor;stroke-opacity:.15}.threshold{stroke:#cf222e;stroke-dasharray:5 4}.threshold-label{fill:#cf222e}</style>` +
    `${grid}${thr}${paths}${legend}</svg><figcaption>Major faults per second, one point a second over the sample window.</figcaption></figure>`
  );
}

/** A round upper bound for a chart's scale: 1, 2, 2.5 or 5 times a power of ten. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  return v >= 1000 ? `${(v / 1000).toFixed(v % 1000 === 0 ? 0 : 1)}k` : String(Math.round(v));
}

export function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/**
 * A strip chart of where in the verdict's file the faults land: one cell per bucket of the mapped extent,
 * darker with more faults, the hot ranges underlined. The path is HTML-escaped. '' without hot regions.
 */
export function hotRegionsChart(analysis: Pick<Analysis, 'hotRegions'>): string {
  const h = analysis.hotRegions;
  if (!h || h.buckets.length === 0) return '';
  const SW = 640;
  const SH = 64;
  const left = 8;
  const width = SW - 2 * left;
  const cell = width / h.buckets.length;
  const max = Math.max(1, ...h.buckets);
  const cells = h.buckets
    .map((c, i) => {
      const opacity = c === 0 ? 0.04 : 0.15 + 0.85 * (c / max);
      return `<rect x="${(left + i * cell).toFixed(1)}" y="8" width="${Math.max(0.5, cell - 0.5).toFixed(1)}" height="28" fill="#cf222e" fill-opacity="${opacity.toFixed(2)}"><title>${fmtBytes(i * h.bucketBytes)}–${fmtBytes(Math.min(h.extentBytes, (i + 1) * h.bucketBytes))}: ${c} faults</title></rect>`;
    })
    .join('');
  const scale = width / h.extentBytes;
  const marks = h.ranges
    .map((r) => `<line x1="${(left + r.start * scale).toFixed(1)}" x2="${(left + r.end * scale).toFixed(1)}" y1="40" y2="40" stroke="#cf222e" stroke-width="3"/>`)
    .join('');
  const axis =
    `<text x="${left}" y="${SH - 8}">0</text>` +
    `<text x="${SW - left}" y="${SH - 8}" text-anchor="end">${fmtBytes(h.extentBytes)}</text>`;
  return (
    `<figure class="chart"><svg viewBox="0 0 ${SW} ${SH}" role="img" aria-label="major faults by offset in ${escapeHtml(h.path)}" xmlns="http://www.w3.org/2000/svg">` +
    `<style>text{font:11px system-ui,sans-serif;fill:currentColor}</style>${cells}${marks}${axis}</svg>` +
    `<figcaption>Where in ${escapeHtml(h.path)} the faults land, by offset in the file (${Math.round(h.hotShare * 100)}% in the underlined ranges).</figcaption></figure>`
  );
}
