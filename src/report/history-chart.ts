import { isPrometheusFailure, type Point, type PrometheusContext, type PrometheusHistory, type PrometheusQueryName } from '../model/prometheus-context.js';
import { niceMax, truncate } from './chart.js';
import { escapeHtml } from './escape.js';

/**
 * The lookback before the triage as SVG, for the HTML report: the node's major-fault rate with the alert
 * threshold, the alert's start and the triage window marked, the top containers where cAdvisor has them,
 * and small multiples for swap-ins, memory pressure and available memory. Pure: data in, markup out;
 * every label from Prometheus (container names) is HTML-escaped. '' when there is nothing to draw.
 */

export interface HistoryMarks {
  /** The alert's `startsAt`, for triages an alert started. */
  alertStartsAt?: string | null;
  triageStartedAt?: string | null;
  triageFinishedAt?: string | null;
}

const W = 640;
const H = 232;
const PAD = { left: 56, right: 12, top: 16, bottom: 50 };
// Small multiples: wide enough that their text stays near 11-13 px whether three share a row or one fills a phone.
const SW = 300;
const SH = 110;
const SPAD = { left: 8, right: 8, top: 20, bottom: 18 };
const NODE_COLOR = '#57606a';
const CONTAINER_COLORS = ['#0969da', '#8250df', '#1a7f37'];
const MAX_CONTAINERS = 3;

export function historyChart(ctx: PrometheusContext | null | undefined, marks: HistoryMarks = {}): string {
  if (!ctx || isPrometheusFailure(ctx)) return '';
  const pg = seriesOf(ctx, 'pgmajfault');
  if (pg.length < 2) return '';
  const t0 = Date.parse(ctx.range.start) / 1000;
  const triageStart = seconds(marks.triageStartedAt);
  const triageEnd = seconds(marks.triageFinishedAt);
  // The triage starts where the lookback ends; its window is drawn just past the data.
  const t1 = Math.max(Date.parse(ctx.range.end) / 1000, triageEnd ?? -Infinity, (pg.at(-1)?.[0] ?? t0) + 1);
  const threshold = ctx.summary.thresholdPerSec;
  const containers = ctx.series
    .filter((s) => s.query === 'containerPgmajfault' && s.points.length >= 2)
    .slice(0, MAX_CONTAINERS)
    .map((s, i) => ({ label: containerLabel(s.labels), points: s.points, color: CONTAINER_COLORS[i]! }));
  const max = niceMax(Math.max(threshold, ...pg.map((p) => p[1]), ...containers.flatMap((c) => c.points.map((p) => p[1]))));

  const x = (t: number) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (H - PAD.top - PAD.bottom) * (1 - Math.min(Math.max(v, 0), max) / max);
  const bottom = H - PAD.bottom;

  const grid = [0, 0.5, 1]
    .map((f) => `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${n(y(max * f))}" y2="${n(y(max * f))}" class="grid"/><text x="${PAD.left - 6}" y="${n(y(max * f) + 4)}" text-anchor="end">${fmtRate(max * f)}</text>`)
    .join('');
  const ticks = [t0, (t0 + t1) / 2, t1]
    .map((t, i) => `<text x="${n(x(t))}" y="${bottom + 18}" text-anchor="${['start', 'middle', 'end'][i]}">${hhmm(t)}${i === 2 ? ' UTC' : ''}</text>`)
    .join('');
  const thr =
    `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${n(y(threshold))}" y2="${n(y(threshold))}" class="threshold"/>` +
    `<text x="${PAD.left + 4}" y="${n(y(threshold) - 4)}" class="threshold-label">alert threshold ${fmtRate(threshold)}/s</text>`;

  let window = '';
  if (triageStart !== null) {
    const a = x(Math.max(t0, triageStart));
    const b = Math.max(a + 3, x(Math.min(t1, triageEnd ?? triageStart)));
    window = `<rect x="${n(a)}" y="${PAD.top}" width="${n(b - a)}" height="${bottom - PAD.top}" class="triage"><title>triage ${hhmmss(triageStart)}${triageEnd !== null ? `–${hhmmss(triageEnd)}` : ''} UTC</title></rect>`;
  }
  let alert = '';
  const alertAt = seconds(marks.alertStartsAt);
  if (alertAt !== null) {
    alert =
      alertAt >= t0
        ? `<line x1="${n(x(alertAt))}" x2="${n(x(alertAt))}" y1="${PAD.top}" y2="${bottom}" class="alert"/><text x="${n(x(alertAt) + 3)}" y="${PAD.top + 10}" class="alert-label">alert ${hhmm(alertAt)}</text>`
        : `<text x="${W - PAD.right}" y="${PAD.top + 10}" text-anchor="end" class="alert-label">alert firing since ${hhmm(alertAt)}, before this chart</text>`;
  }

  const line = (points: Point[]) => points.map(([t, v]) => `${n(x(t))},${n(y(v))}`).join(' ');
  const lines = [
    `<polyline fill="none" stroke="${NODE_COLOR}" stroke-width="2.5" points="${line(pg)}" class="node-rate"><title>node major faults/s</title></polyline>`,
    ...containers.map((c) => `<polyline fill="none" stroke="${c.color}" stroke-width="1.5" points="${line(c.points)}" class="container-rate"><title>${escapeHtml(c.label)}</title></polyline>`),
  ].join('');
  const legend = [{ label: 'node', color: NODE_COLOR }, ...containers]
    .map((s, i) => `<g transform="translate(${PAD.left + i * 150},${H - 8})"><rect width="10" height="10" y="-9" fill="${s.color}"/><text x="14">${escapeHtml(truncate(s.label, 14))}</text></g>`)
    .join('');

  const main =
    `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="major faults per second over the ${ctx.summary.lookbackMinutes} minutes before the triage" xmlns="http://www.w3.org/2000/svg" class="history-main" style="display:block;width:100%;height:auto">` +
    STYLE +
    `${grid}${window}${thr}${alert}${lines}${ticks}${legend}</svg>`;

  const smalls = [
    small('swap-ins/s', [{ points: seriesOf(ctx, 'pswpin'), color: '#bc4c00' }], t0, t1, fmtRate),
    small(
      'memory pressure (some / full)',
      [
        { points: seriesOf(ctx, 'pressureWaiting'), color: '#cf222e' },
        { points: seriesOf(ctx, 'pressureStalled'), color: '#8250df' },
      ],
      t0,
      t1,
      (v) => `${Math.round(v * 100)}%`,
    ),
    small('available memory', [{ points: seriesOf(ctx, 'memAvailable'), color: '#1a7f37' }], t0, t1, fmtBytes),
  ].join('');

  return (
    // Inline layout, so the chart needs nothing from the page around it: full width, the small multiples side by side or stacked.
    `<figure class="chart history" style="margin:0">${main}<div class="history-smalls" style="display:flex;flex-wrap:wrap;gap:8px">${smalls}</div>` +
    `<figcaption>Prometheus: the ${ctx.summary.lookbackMinutes} minutes before the triage, one point every ${ctx.range.stepSeconds} s ` +
    `(rates over ${ctx.range.rateWindowSeconds} s). Dashed: the alert threshold; shaded: the triage.</figcaption></figure>`
  );
}

// On a phone the main chart is drawn at about half its size: larger text keeps it readable there.
const STYLE =
  '<style>text{font:11px system-ui,sans-serif;fill:currentColor}@media (max-width:600px){.history-main text{font-size:18px}}' +
  '.grid{stroke:currentColor;stroke-opacity:.15}' +
  '.threshold{stroke:#cf222e;stroke-dasharray:5 4}.threshold-label,.alert-label{fill:#cf222e}.alert{stroke:#cf222e;stroke-width:1.5}' +
  '.triage{fill:#0969da;fill-opacity:.18}</style>';

/** One small panel: a title with the latest value, the lines on their own scale from 0; "no data" when empty. */
function small(title: string, lines: { points: Point[]; color: string }[], t0: number, t1: number, fmt: (v: number) => string): string {
  const drawn = lines.filter((l) => l.points.length >= 2);
  const head = `<svg viewBox="0 0 ${SW} ${SH}" role="img" aria-label="${escapeHtml(title)}" xmlns="http://www.w3.org/2000/svg" class="history-small" style="flex:1 1 240px;min-width:0;max-width:100%;height:auto">${STYLE}`;
  if (drawn.length === 0) return `${head}<text x="${SPAD.left}" y="12">${escapeHtml(title)}</text><text x="${SW / 2}" y="${SH / 2 + 8}" text-anchor="middle" class="no-data">no data</text></svg>`;
  const max = niceMax(Math.max(...drawn.flatMap((l) => l.points.map((p) => p[1]))));
  const x = (t: number) => SPAD.left + ((t - t0) / (t1 - t0)) * (SW - SPAD.left - SPAD.right);
  const y = (v: number) => SPAD.top + (SH - SPAD.top - SPAD.bottom) * (1 - Math.min(Math.max(v, 0), max) / max);
  const latest = drawn.map((l) => fmt(l.points.at(-1)![1])).join(' / ');
  const paths = drawn.map((l) => `<polyline fill="none" stroke="${l.color}" stroke-width="1.5" points="${l.points.map(([t, v]) => `${n(x(t))},${n(y(v))}`).join(' ')}"/>`).join('');
  return (
    `${head}<text x="${SPAD.left}" y="12">${escapeHtml(title)}: ${escapeHtml(latest)}</text>` +
    `<line x1="${SPAD.left}" x2="${SW - SPAD.right}" y1="${n(y(0))}" y2="${n(y(0))}" class="grid"/>` +
    `<text x="${SW - SPAD.right}" y="${SH - 3}" text-anchor="end">max ${escapeHtml(fmt(max))}</text>${paths}</svg>`
  );
}

/** The one series of a node-level query (queries are summed per node), or none. */
function seriesOf(ctx: PrometheusHistory, q: PrometheusQueryName): Point[] {
  return ctx.series.find((s) => s.query === q)?.points ?? [];
}

function containerLabel(l: Record<string, string>): string {
  if (l.pod && l.container) return `${l.pod}/${l.container}`;
  return l.container || l.name || l.pod || 'container';
}

function seconds(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t / 1000 : null;
}


const n = (v: number) => v.toFixed(1);
const hhmm = (t: number) => new Date(t * 1000).toISOString().slice(11, 16);
const hhmmss = (t: number) => new Date(t * 1000).toISOString().slice(11, 19);

function fmtRate(v: number): string {
  if (v >= 1000) return `${(v / 1000).toFixed(v % 1000 === 0 ? 0 : 1)}k`;
  return v >= 10 || v === 0 ? String(Math.round(v)) : v.toFixed(1);
}

function fmtBytes(v: number): string {
  if (v >= 2 ** 30) return `${(v / 2 ** 30).toFixed(1)} GiB`;
  return `${Math.round(v / 2 ** 20)} MiB`;
}

