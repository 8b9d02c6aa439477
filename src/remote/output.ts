/**
 * A bounded sink for a step's stdout or stderr: keeps the first `capBytes` bytes, counts the rest
 * and drops it. The runners keep reading past the cap (so the step is not blocked on a full pipe
 * and runs to its end) but memory stays bounded by the cap, whatever the node sends.
 */
export class OutputCollector {
  readonly capBytes: number;
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private dropped = 0;

  constructor(capBytes: number) {
    if (!Number.isSafeInteger(capBytes) || capBytes < 0) throw new RangeError(`output cap must be a non-negative integer, got ${capBytes}`);
    this.capBytes = capBytes;
  }

  push(chunk: Buffer | string): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    const room = this.capBytes - this.kept;
    if (room <= 0) {
      this.dropped += buf.length;
      return;
    }
    if (buf.length <= room) {
      // Copy: a stream may reuse its buffer, and a small view must not pin a large pooled slab.
      this.chunks.push(Buffer.from(buf));
      this.kept += buf.length;
      return;
    }
    this.chunks.push(Buffer.from(buf.subarray(0, room)));
    this.kept += room;
    this.dropped += buf.length - room;
  }

  get keptBytes(): number {
    return this.kept;
  }

  get droppedBytes(): number {
    return this.dropped;
  }

  get truncated(): boolean {
    return this.dropped > 0;
  }

  /** The kept bytes; a multi-byte character cut at the cap decodes as U+FFFD. */
  text(): string {
    return Buffer.concat(this.chunks, this.kept).toString('utf8');
  }
}
