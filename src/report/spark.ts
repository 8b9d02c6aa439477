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
