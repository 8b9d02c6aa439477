/**
 * A sorted interval index over one process's mappings. Built once per process, then every fault address is
 * found through a small radix tree and a binary search over typed arrays: no allocation per lookup, so a
 * million samples against ten thousand mappings resolve in well under a second.
 *
 * Intervals are half-open, [start, end), as in /proc/PID/maps. A consistent maps read never overlaps, but a
 * maps file read in several chunks while the process remaps can; then the interval listed first wins, exactly
 * as a linear scan over the input would answer.
 */

export interface Interval {
  readonly start: number;
  readonly end: number;
}

export interface IntervalIndex {
  /** Number of disjoint segments the index searches (≤ 2 × intervals). */
  readonly segments: number;
  /** Index (in the input array) of the first interval containing addr, or -1. */
  lookup(addr: number): number;
}

export interface IndexTuning {
  /** Slots per radix node below the root as a power of two: 8 (256 slots) keeps a node at 1 KiB. */
  childBits: number;
  /** A slot overlapping more segments than this gets its own node, while the slot budget lasts. */
  leafSegments: number;
  /** Slot budget per segment, so a pathological layout cannot blow up memory. */
  slotsPerSegment: number;
}

const TUNING: IndexTuning = { childBits: 8, leafSegments: 8, slotsPerSegment: 64 };

/**
 * Disjoint segments sorted by start, found through a radix tree over the address range: each node splits
 * its range into equal slots, and a slot either names the first segment that could contain an address in
 * it (a leaf) or points to a finer node. Clustered layouts (binary and heap near 0x5555…, libraries and
 * arenas near 0x7f…) only get deep where mappings are dense; a leaf is searched by galloping from its
 * first segment, so even a crowded leaf costs O(log n).
 */
class SortedSegments implements IntervalIndex {
  readonly segments: number;
  private readonly base: number;
  /** Per node: 2^-shift (slot width reciprocal), 2^shift (slot width), slot offset and slot count. */
  private readonly inv: Float64Array;
  private readonly width: Float64Array;
  private readonly offset: Int32Array;
  private readonly size: Int32Array;
  /** Leaf: first candidate segment (≥ 0). Inner: ~child node. */
  private readonly slots: Int32Array;

  constructor(
    private readonly starts: Float64Array,
    private readonly ends: Float64Array,
    private readonly ids: Int32Array,
    tuning: IndexTuning,
  ) {
    const { childBits, leafSegments, slotsPerSegment } = tuning;
    const n = starts.length;
    this.segments = n;
    this.base = n > 0 ? starts[0]! : 0;
    const rootBits = Math.min(16, Math.max(childBits, Math.ceil(Math.log2(n + 1)) + 1));
    const span = n > 0 ? ends[n - 1]! - this.base : 0;
    let rootShift = 0;
    while (2 ** (rootShift + rootBits) < span) rootShift++;

    const slots: number[] = [];
    const nodes: { shift: number; offset: number; size: number }[] = [];
    const budget = slotsPerSegment * n + (1 << 16);
    const build = (base: number, shift: number, bits: number, first: number): number => {
      const id = nodes.length;
      const size = 2 ** bits;
      const offset = slots.length;
      nodes.push({ shift, offset, size });
      for (let j = 0; j < size; j++) slots.push(0);
      const w = 2 ** shift;
      let p = first;
      for (let j = 0; j < size; j++) {
        const from = base + j * w;
        const to = from + w;
        while (p < n && ends[p]! <= from) p++;
        let q = p;
        while (q < n && starts[q]! < to && q - p <= leafSegments) q++;
        const crowded = q - p > leafSegments && shift >= childBits && slots.length + 2 ** childBits <= budget;
        slots[offset + j] = crowded ? ~build(from, shift - childBits, childBits, p) : p;
      }
      return id;
    };
    build(this.base, rootShift, rootBits, 0);
    this.slots = Int32Array.from(slots);
    this.inv = Float64Array.from(nodes, (nd) => 2 ** -nd.shift);
    this.width = Float64Array.from(nodes, (nd) => 2 ** nd.shift);
    this.offset = Int32Array.from(nodes, (nd) => nd.offset);
    this.size = Int32Array.from(nodes, (nd) => nd.size);
  }

  lookup(addr: number): number {
    const starts = this.starts;
    const n = starts.length;
    let base = this.base;
    let off = Math.floor((addr - base) * this.inv[0]!);
    // Also false for NaN.
    if (!(off >= 0 && off < this.size[0]!)) return -1;
    let v = this.slots[off]!;
    let node = 0;
    while (v < 0) {
      base += off * this.width[node]!;
      node = ~v;
      off = Math.floor((addr - base) * this.inv[node]!);
      v = this.slots[this.offset[node]! + off]!;
    }
    // Last segment from v on with start <= addr: gallop, then binary search the last step.
    let i = v;
    let step = 1;
    while (i + step < n && starts[i + step]! <= addr) {
      i += step;
      step *= 2;
    }
    let lo = i + 1;
    let hi = Math.min(i + step, n);
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= addr) lo = mid + 1;
      else hi = mid;
    }
    i = lo - 1;
    if (i >= n || !(starts[i]! <= addr && addr < this.ends[i]!)) return -1;
    return this.ids[i]!;
  }
}

/** `tuning` is for tests and benchmarks; the defaults suit /proc/PID/maps. */
export function buildIntervalIndex(intervals: readonly Interval[], tuning: Partial<IndexTuning> = {}): IntervalIndex {
  const t = { ...TUNING, ...tuning };
  const order: number[] = [];
  for (let i = 0; i < intervals.length; i++) {
    const { start, end } = intervals[i]!;
    if (Number.isFinite(start) && Number.isFinite(end) && end > start) order.push(i);
  }
  // /proc/PID/maps is already in address order: skip the sort then.
  let sorted = true;
  for (let k = 1; k < order.length && sorted; k++) sorted = intervals[order[k - 1]!]!.start <= intervals[order[k]!]!.start;
  if (!sorted) order.sort((a, b) => intervals[a]!.start - intervals[b]!.start || a - b);

  let disjoint = true;
  for (let k = 1; k < order.length; k++) {
    if (intervals[order[k]!]!.start < intervals[order[k - 1]!]!.end) {
      disjoint = false;
      break;
    }
  }
  if (disjoint) {
    const n = order.length;
    const starts = new Float64Array(n);
    const ends = new Float64Array(n);
    const ids = new Int32Array(n);
    order.forEach((id, k) => {
      starts[k] = intervals[id]!.start;
      ends[k] = intervals[id]!.end;
      ids[k] = id;
    });
    return new SortedSegments(starts, ends, ids, t);
  }
  return buildOverlapping(intervals, order, t);
}

/**
 * Splits overlapping intervals into elementary segments, each owned by the lowest input index covering it,
 * with a sweep over the sorted boundaries and a min-heap of the intervals open at each point.
 */
function buildOverlapping(intervals: readonly Interval[], byStart: readonly number[], tuning: IndexTuning): IntervalIndex {
  const bounds = new Float64Array(byStart.length * 2);
  byStart.forEach((id, k) => {
    bounds[2 * k] = intervals[id]!.start;
    bounds[2 * k + 1] = intervals[id]!.end;
  });
  bounds.sort();

  const heap = new MinHeap(byStart.length);
  const starts: number[] = [];
  const ends: number[] = [];
  const ids: number[] = [];
  let next = 0;
  for (let b = 0; b < bounds.length - 1; b++) {
    const point = bounds[b]!;
    const upto = bounds[b + 1]!;
    if (upto === point) continue;
    while (next < byStart.length && intervals[byStart[next]!]!.start <= point) heap.push(byStart[next++]!);
    // Lazy deletion: only the top has to be open; closed ones below it surface and go later.
    while (heap.size > 0 && intervals[heap.top()]!.end <= point) heap.pop();
    if (heap.size === 0) continue;
    const owner = heap.top();
    const last = ids.length - 1;
    if (last >= 0 && ids[last] === owner && ends[last] === point) ends[last] = upto;
    else {
      starts.push(point);
      ends.push(upto);
      ids.push(owner);
    }
  }
  return new SortedSegments(Float64Array.from(starts), Float64Array.from(ends), Int32Array.from(ids), tuning);
}

class MinHeap {
  private readonly items: Int32Array;
  size = 0;

  constructor(capacity: number) {
    this.items = new Int32Array(Math.max(1, capacity));
  }

  top(): number {
    return this.items[0]!;
  }

  push(v: number): void {
    const a = this.items;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]! <= v) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = v;
  }

  pop(): void {
    const a = this.items;
    const v = a[--this.size]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= this.size) break;
      if (child + 1 < this.size && a[child + 1]! < a[child]!) child++;
      if (a[child]! >= v) break;
      a[i] = a[child]!;
      i = child;
    }
    a[i] = v;
  }
}
