import { describe, expect, it } from 'vitest';
import { OutputCollector } from '../../../src/remote/output.js';

describe('OutputCollector', () => {
  it('keeps everything under the cap', () => {
    const c = new OutputCollector(10);
    c.push(Buffer.from('hello '));
    c.push('world');
    expect(c.text()).toBe('hello worl');
    expect(c.keptBytes).toBe(10);
    expect(c.droppedBytes).toBe(1);
    expect(c.truncated).toBe(true);
  });

  it('is not truncated when the output is exactly the cap', () => {
    const c = new OutputCollector(5);
    c.push('abc');
    c.push('de');
    expect(c.text()).toBe('abcde');
    expect(c.truncated).toBe(false);
    c.push(Buffer.alloc(0));
    expect(c.truncated).toBe(false);
    c.push('f');
    expect(c.truncated).toBe(true);
    expect(c.droppedBytes).toBe(1);
  });

  it('counts bytes, not characters, and a character cut at the cap becomes U+FFFD', () => {
    const c = new OutputCollector(4);
    c.push('aé€'); // 1 + 2 + 3 bytes
    expect(c.keptBytes).toBe(4);
    expect(c.droppedBytes).toBe(2);
    expect(c.text()).toBe('aé\uFFFD');
  });

  it('does not keep a reference to the caller\'s buffer', () => {
    const c = new OutputCollector(8);
    const buf = Buffer.from('abcd');
    c.push(buf);
    buf.fill(0x78);
    expect(c.text()).toBe('abcd');
  });

  it('with a zero cap keeps nothing and counts everything', () => {
    const c = new OutputCollector(0);
    c.push('abc');
    expect(c.text()).toBe('');
    expect(c.droppedBytes).toBe(3);
  });

  it('refuses a cap that is not a byte count', () => {
    expect(() => new OutputCollector(-1)).toThrow(RangeError);
    expect(() => new OutputCollector(1.5)).toThrow(RangeError);
    expect(() => new OutputCollector(Number.NaN)).toThrow(RangeError);
  });

  it('holds only the cap in memory, whatever is pushed', () => {
    const cap = 1024 * 1024;
    const c = new OutputCollector(cap);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    global.gc?.();
    const before = process.memoryUsage();
    for (let i = 0; i < 8 * 1024; i++) c.push(chunk); // 512 MiB pushed
    const after = process.memoryUsage();
    expect(c.keptBytes).toBe(cap);
    expect(c.droppedBytes).toBe(8 * 1024 * chunk.length - cap);
    const grown = after.arrayBuffers + after.heapUsed - (before.arrayBuffers + before.heapUsed);
    expect(grown).toBeLessThan(16 * 1024 * 1024);
  });
});
