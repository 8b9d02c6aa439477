/**
 * playbook.mode overlapped: one rank step whose output carries a whole capture step after its own, recorded
 * on this machine with a paced file reader faulting (test/fixtures/playbook-rank-overlapped.cmd, and
 * playbook-rank-overlapped-v3.cmd for the rank's version 3).
 */
import { describe, expect, it } from 'vitest';
import { parseCapture, parseRank } from '../../../src/playbook/parse.js';
import { splitOverlapped } from '../../../src/pipeline.js';
import { rankProcesses } from '../../../src/analysis/rank.js';
import { fixture, NONCE } from './helpers.js';

describe.each(['playbook-rank-overlapped.txt', 'playbook-rank-overlapped-v3.txt'])('an overlapped rank step (%s)', (name) => {
  const text = fixture(name);

  it('splits into the rank and the capture output, each a complete step', () => {
    const { rankPart, capturePart } = splitOverlapped(text, NONCE);
    expect(rankPart.trimEnd().split('\n').at(-1)).toBe(`@@pft:${NONCE} end step=rank status=ok`);
    expect(capturePart?.startsWith(`@@pft:${NONCE} begin step=capture version=1 seconds=2 tier=perf pids=\n`)).toBe(true);
    expect(rankPart + capturePart).toBe(text);
  });

  it('parses both: the ranking, and a system-wide perf capture with the faulting process read during the window', () => {
    const { rankPart, capturePart } = splitOverlapped(text, NONCE);
    const rank = parseRank(rankPart, NONCE);
    const capture = parseCapture(capturePart!, NONCE);
    expect(rank.snapshots).toHaveLength(4);
    // The third snapshot (between the second and the last) reads only the processes that faulted in the first
    // second: the reader among them, far fewer than the whole table.
    expect(rank.snapshots[2]!.procs.length).toBeLessThan(rank.snapshots[1]!.procs.length / 4);
    expect(rank.snapshots[2]!.procs.map((p) => p.pid)).toContain(capture.samples[0]!.pid);
    expect(rankProcesses(rank, 1)[0]).toMatchObject({ pid: capture.samples[0]!.pid, presence: 'whole' });
    expect(rankProcesses(rank, 1)[0]!.series).toHaveLength(3);
    expect(capture).toMatchObject({ tier: 'perf', target: 'all', seconds: 2 });
    expect(capture.samples.length).toBeGreaterThan(0);
    const reader = capture.samples[0]!.pid;
    // Read while it ran (when=during), from the rank's own snapshots: its maps resolve the samples.
    expect(capturePart).toContain(`@@pft:${NONCE} proc pid=${reader} when=during alive=1`);
    expect(capture.procs[String(reader)]?.maps.some((m) => m.path.endsWith('.bin') || m.path.includes('pft-test-'))).toBe(true);
    // The capture's window lies inside the rank's: both measure the same faults.
    expect(capture.vmstat[0]!.t).toBeLessThanOrEqual(rank.vmstat[0]!.t + 0.5);
  });

  it('is cut when the capture has no end marker, so that the bot runs the capture step itself', () => {
    const cut = text.slice(0, text.lastIndexOf(`@@pft:${NONCE} end step=capture`));
    expect(splitOverlapped(cut, NONCE).capturePart).toBeNull();
    const rankOnly = text.slice(0, text.indexOf(`@@pft:${NONCE} begin step=capture`));
    expect(splitOverlapped(rankOnly, NONCE)).toEqual({ rankPart: rankOnly, capturePart: null });
  });
});
