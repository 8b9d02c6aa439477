/** Sparklines: one block glyph per value, its height the value's share of a scale. */
export const SPARK = '▁▂▃▄▅▆▇█';

/** The glyph for `value` on a scale from 0 to `max` (> 0), rounded to the nearest of the eight heights. */
export function sparkGlyph(value: number, max: number): string {
  return SPARK[Math.max(0, Math.min(SPARK.length - 1, Math.floor((value / max) * (SPARK.length - 1) + 0.5)))]!;
}

/** A sparkline of `values` on a scale from 0 to `max` (default: their own maximum). */
export function sparkline(values: readonly number[], max = Math.max(0, ...values)): string {
  if (max <= 0) return SPARK[0]!.repeat(values.length);
  return values.map((v) => sparkGlyph(v, max)).join('');
}

/**
 * A run of sparkline glyphs as inline SVG bars, for the HTML page: many fonts lack the block glyphs, and a
 * browser's fallback draws them as a row of underscores. Same heights, nothing loaded from elsewhere.
 */
export function sparkSvg(glyphs: string): string {
  const levels = [...glyphs].map((g) => SPARK.indexOf(g)).filter((i) => i >= 0);
  if (levels.length === 0) return '';
  const H = 16;
  const bars = levels
    .map((l, i) => {
      const h = ((l + 1) / SPARK.length) * H;
      return `<rect x="${i * 4}" y="${(H - h).toFixed(1)}" width="3" height="${h.toFixed(1)}"/>`;
    })
    .join('');
  return `<svg class="spark" viewBox="0 0 ${levels.length * 4 - 1} ${H}" width="${levels.length * 6}" height="${H}" role="img" aria-label="${glyphs}" fill="currentColor" xmlns="http://www.w3.org/2000/svg">${bars}</svg>`;
}

const SPARK_RUN = new RegExp(`[${SPARK}]+`, 'g');

/** Replaces every run of sparkline glyphs in an HTML fragment by its SVG bars (the glyphs stay as the label). */
export function sparksToSvg(html: string): string {
  return html.replace(SPARK_RUN, (run) => sparkSvg(run));
}
