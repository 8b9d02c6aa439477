/**
 * High fault rates: when the node faults faster than the 50,000-sample cap holds over the capture window, perf
 * records 1 in P major faults (`perf record -c P`), P from pgmajfault just before the window. On the `local` node
 * with perf, a file reader on an in-memory ext4 (zram, or a loop device over tmpfs) makes well over 10,000 real major
 * faults/s: the capture is sampled, the verdict still names the reader and its file, reconciliation counts each
 * sample as P faults, and the report and the Slack message say "1 in P sampled". A paced reader well below the
 * cap is recorded fault by fault (P = 1).
 *
 * The kernel is shared with other test runs: run under the kernel lock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import type { TriageResult } from '../../src/model/triage.js';
import { triageNode } from '../../src/pipeline.js';
import { renderReport } from '../../src/report/markdown.js';
import { verdictMessage } from '../../src/report/slack/messages.js';
import { cleanupStaleTestState, startFileReader, stopAllGenerators, waitForMajorFaults, type FileGenerator } from '../support/generators.js';
import { createRamDisk, type RamDisk } from '../support/ram-disk.js';
import { blockTexts } from '../slack/helpers.js';
import { viewOf } from '../slack/fixtures.js';
import { expectNodeClean, localConfig, triageUnpolluted } from './helpers.js';

/** The playbook's cap (PFT_MAX_SAMPLES) and the share of it a sampled window aims at. */
const MAX_SAMPLES = 50_000;
const SAMPLE_ROOM = MAX_SAMPLES / 4;
const CAPTURE_SECONDS = 3;
/** Enough for P > 1 at 3 s even if the 0.2 s rate before the window reads half of it. */
const FAST_RATE = 10_000;

let disk: RamDisk;
let fast: FileGenerator;

beforeAll(async () => {
  cleanupStaleTestState();
  disk = createRamDisk(160);
  fast = await startFileReader({ dir: disk.dir, sizeMb: 64 });
  const rate = await waitForMajorFaults(fast.pid, FAST_RATE);
  console.log(`[sampling] reader on ${disk.device} (${disk.backing}): ${Math.round(rate)} major faults/s`);
}, 120_000);

afterAll(async () => {
  await stopAllGenerators();
  disk?.remove();
});

/**
 * A triage whose capture was sampled. Other test runs share the two CPUs, and the reader's rate swings with them:
 * the 0.2 s before the window can catch it in a lull, and then P = 1 is the right choice. Try again (at most 4
 * times) until the rate before the window called for sampling; every attempt obeys the rule (see checkSampled).
 */
async function sampledTriage(config: Config, node: Config['nodes'][number]): Promise<TriageResult> {
  const seen: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await triageUnpolluted(() => triageNode(config, node, { kind: 'cli' }), [fast.pid]);
    const cap = r.analysis!.capture;
    expect(cap.period ?? 1).toBe(Math.max(1, Math.ceil((cap.periodRate! * cap.seconds) / SAMPLE_ROOM)));
    if ((cap.period ?? 1) > 1) return r;
    seen.push(`${cap.periodRate}/s before the window, ${cap.majfltDelta} faults in it`);
  }
  throw new Error(`the reader never faulted fast enough before the capture window to need sampling: ${seen.join('; ')}`);
}

function checkSampled(r: TriageResult, config: Config): void {
  const a = r.analysis!;
  const cap = a.capture;
  console.log(
    `[sampling] ${config.playbook.mode}: period ${cap.period} (rate before ${cap.periodRate}/s), ${cap.samples} samples, ` +
      `${cap.majfltDelta} faults on the node, lost ${cap.lost}; verdict ${r.verdict.kind} ${r.verdict.summary}`,
  );
  expect(cap.tier).toBe('perf');
  expect(cap.period).toBeGreaterThan(1);
  // P is the smallest period that keeps the expected faults within a quarter of the cap.
  const expected = cap.periodRate! * cap.seconds;
  expect(cap.period).toBe(Math.ceil(expected / SAMPLE_ROOM));
  // Nothing cut by the cap, and the samples stand for the faults the node counted (timing at the window's
  // edges and the rate's swings aside).
  expect(cap.samples).toBeLessThan(MAX_SAMPLES);
  expect(cap.lost).toBe(0);
  const represented = cap.samples * cap.period!;
  expect(represented).toBeGreaterThan(cap.majfltDelta * 0.5);
  expect(represented).toBeLessThan(cap.majfltDelta * 1.5);

  expect(r.verdict.kind).toBe('mmap-read');
  expect(r.verdict.pid).toBe(fast.pid);
  expect(r.verdict.path).toBe(fast.path);
  expect(r.verdict.confidence).toBe('high');
  expect(r.verdict.notes.some((n) => n.startsWith(`1 in ${cap.period} major faults sampled (perf -c ${cap.period})`))).toBe(true);

  // Reconciliation counts each sample as P faults: the reader is fully covered, not under-counted.
  const rec = a.reconciliation!.find((x) => x.pid === fast.pid)!;
  expect(rec.period).toBe(cap.period);
  expect(rec.undercounted).toBe(false);
  expect(rec.coverage).toBeGreaterThan(0.5);

  const report = renderReport(r, { reportUrl: null });
  expect(report).toContain(`· 1 in ${cap.period} sampled ·`);
  expect(report).toContain(`samples of major faults captured, 1 in ${cap.period} sampled`);
  expect(report).toContain(`perf record -e major-faults -c ${cap.period} -d`);
  const slack = blockTexts(verdictMessage({ view: viewOf(r), result: r, reportUrl: null }, '/pagefault').blocks).mrkdwn.join('\n');
  expect(slack).toContain(`perf major-faults, 1 in ${cap.period} sampled`);
}

describe('sampling at high fault rates', { timeout: 300_000 }, () => {
  it('sequential: records 1 in P faults and still names the reader and its file', async () => {
    const { config, node } = localConfig({ tracer: 'perf', sampleSeconds: 2, captureSeconds: CAPTURE_SECONDS, mode: 'sequential' });
    const r = await sampledTriage(config, node);
    checkSampled(r, config);
    await expectNodeClean();
  });

  it('overlapped: the capture that starts with the rank window is sampled too', async () => {
    const { config, node } = localConfig({ tracer: 'perf', sampleSeconds: CAPTURE_SECONDS, captureSeconds: CAPTURE_SECONDS, mode: 'overlapped' });
    const r = await sampledTriage(config, node);
    checkSampled(r, config);
    await expectNodeClean();
  });

  it('below the cap every fault is recorded (P = 1) and nothing says sampled', async () => {
    await fast.stop();
    const paced = await startFileReader({ dir: disk.dir, sizeMb: 16, pagesPerSec: 600 });
    await waitForMajorFaults(paced.pid, 300);
    const { config, node } = localConfig({ tracer: 'perf', sampleSeconds: 2, captureSeconds: CAPTURE_SECONDS });
    const r = await triageUnpolluted(() => triageNode(config, node, { kind: 'cli' }), [paced.pid]);
    const cap = r.analysis!.capture;
    expect(cap.period).toBeUndefined();
    expect(cap.periodRate).toBeLessThan(SAMPLE_ROOM / CAPTURE_SECONDS);
    expect(r.verdict.kind).toBe('mmap-read');
    expect(r.verdict.pid).toBe(paced.pid);
    expect(r.verdict.notes.some((n) => n.includes('major faults sampled'))).toBe(false);
    const report = renderReport(r, { reportUrl: null });
    expect(report).not.toContain('sampled');
    expect(report).toContain('perf record -e major-faults -c 1 -d');
    await paced.stop();
    await expectNodeClean();
  });
});
