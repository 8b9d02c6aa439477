/**
 * A mixed node on real major faults, on the `local` node: a mapped-file reader at ~2,000 faults/s next to a
 * swap thrasher that scans its swapped-out memory in order, so that swap readahead reads up to
 * 2^vm.page-cluster pages per fault. pswpin (pages) then far exceeds the thrasher's faults, and a verdict that
 * read pswpin as faults named the thrasher. With perf and without a tracer, the verdict must name the reader.
 *
 * The kernel is shared with other test runs: run under the kernel lock; a triage polluted by another run's
 * faults is run again (triageUnpolluted).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TriageResult } from '../../src/model/triage.js';
import { triageNode } from '../../src/pipeline.js';
import { renderReport } from '../../src/report/markdown.js';
import {
  cleanupStaleTestState,
  measureMajfltRate,
  readVmstat,
  startAnonThrash,
  startFileReader,
  stopAllGenerators,
  waitForMajorFaults,
  type FileGenerator,
  type SwapGenerator,
} from '../support/generators.js';
import { localConfig, triageUnpolluted } from './helpers.js';

const READER_PACE = 2000;
/** Pages a second the thrasher touches in order; with readahead of 8 that is ~190 major faults/s. */
const THRASH_PAGES = 1520;

let reader: FileGenerator;
let thrash: SwapGenerator;
let pswpinPerMajflt = 0;

beforeAll(async () => {
  cleanupStaleTestState();
  reader = await startFileReader({ sizeMb: 64, pagesPerSec: READER_PACE });
  thrash = await startAnonThrash({ mb: 256, limitMb: 64, pagesPerSec: THRASH_PAGES, order: 'sequential' });
  await waitForMajorFaults(reader.pid, READER_PACE * 0.6);
  await waitForMajorFaults(thrash.pid, 50);
  // The trap this test is about: the thrasher reads several swap pages per major fault.
  const v0 = readVmstat();
  const thrashRate = await measureMajfltRate(thrash.pid, 2000);
  const v1 = readVmstat();
  pswpinPerMajflt = (v1.pswpin! - v0.pswpin!) / 2 / Math.max(1, thrashRate);
  console.log(`[mixed-node] thrasher ${thrashRate.toFixed(0)} major faults/s, ${pswpinPerMajflt.toFixed(1)} swap pages per fault`);
}, 240_000);

afterAll(async () => {
  await stopAllGenerators();
});

async function triage(tracer: 'perf' | 'none'): Promise<TriageResult> {
  const { config, node } = localConfig({ tracer, sampleSeconds: 3, captureSeconds: 3 });
  const r = await triageUnpolluted(() => triageNode(config, node, { kind: 'cli' }), [reader.pid, thrash.pid]);
  const a = r.analysis;
  console.log(
    `[mixed-node] ${tracer}: ${r.verdict.kind} (${r.verdict.confidence}) "${r.verdict.summary}"; node ${Math.round(a?.system.pgmajfaultPerSec ?? 0)}/s, ` +
      `pswpin ${Math.round(a?.system.pswpinPerSec ?? 0)}/s; notes ${JSON.stringify(r.verdict.notes)}`,
  );
  return r;
}

function expectTrap(r: TriageResult): void {
  const sys = r.analysis!.system;
  // pswpin is a large share of pgmajfault although the thrasher takes a small share of the faults.
  expect(pswpinPerMajflt, 'swap readahead pages per thrasher fault').toBeGreaterThan(2);
  const thrasher = r.analysis!.processes.find((p) => p.pid === thrash.pid)!;
  const readerRank = r.analysis!.processes.find((p) => p.pid === reader.pid)!;
  expect(thrasher.majfltPerSec, "the reader takes most of the faults").toBeLessThan(readerRank.majfltPerSec / 2);
  expect(sys.pswpinPerSec / sys.pgmajfaultPerSec, 'pswpin / pgmajfault').toBeGreaterThan((thrasher.majfltPerSec / sys.pgmajfaultPerSec) * 2);
  expect(r.nodeInfo?.pageCluster).toBe(Number(readFileSync('/proc/sys/vm/page-cluster', 'utf8').trim()));
}

describe('a file reader next to a swap thrasher with readahead', { timeout: 300_000 }, () => {
  it('without a tracer: mmap-read naming the reader, from each process\'s own evidence', async () => {
    const r = await triage('none');
    expectTrap(r);
    expect(r.verdict).toMatchObject({ kind: 'mmap-read', pid: reader.pid, comm: reader.comm, confidence: 'low', tracer: 'none' });
    expect(r.verdict.summary).toBe(`mmap reads by pid ${reader.pid} (${reader.comm})`);
    expect(r.verdict.notes).toContainEqual(expect.stringMatching(new RegExp(`^pid ${reader.pid} \\(${reader.comm}\\) [\\d,]+ major faults/s, reads [\\d.]+ MB/s from disk, nothing in swap: file reads$`)));
    expect(r.verdict.notes).toContainEqual(expect.stringMatching(new RegExp(`^pid ${thrash.pid} \\(${thrash.comm}\\) [\\d,]+ major faults/s, reads [\\d.]+ MB/s from disk, [\\d,]+ MiB in swap.*: swap-ins$`)));
    expect(r.verdict.notes).toContainEqual(expect.stringMatching(/^pswpin [\d,]+ pages\/s \(readahead included, up to \d+ per fault\)/));
    expect(renderReport(r, { reportUrl: null })).not.toContain('swap thrash');
  });

  it('with perf: mmap-read of the reader\'s file, with no note that pswpin points at swap', async () => {
    const r = await triage('perf');
    expectTrap(r);
    expect(r.verdict).toMatchObject({ kind: 'mmap-read', pid: reader.pid, path: reader.path, confidence: 'high', tracer: 'perf' });
    expect(r.verdict.notes.filter((n) => n.includes('pswpin'))).toEqual([]);
    expect(r.analysis!.shares.swap).toBeGreaterThan(0);
  });
});
