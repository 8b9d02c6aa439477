/**
 * Faults the kernel takes on a process's behalf (madvise(MADV_POPULATE_READ): get_user_pages) count in its
 * majflt but fire no perf event. On the `local` node with perf: a reader faulting through MADV_POPULATE_READ
 * next to an ordinary reader is flagged as under-counted, the ordinary one is not.
 *
 * The kernel is shared with other test runs: run under the kernel lock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { triageNode } from '../../src/pipeline.js';
import { renderReport } from '../../src/report/markdown.js';
import { cleanupStaleTestState, startFileReader, stopAllGenerators, waitForMajorFaults, type FileGenerator } from '../support/generators.js';
import { localConfig, triageUnpolluted } from './helpers.js';

let plain: FileGenerator;
let populating: FileGenerator;

beforeAll(async () => {
  cleanupStaleTestState();
  plain = await startFileReader({ sizeMb: 32, pagesPerSec: 600 });
  populating = await startFileReader({ sizeMb: 32, pagesPerSec: 600, populate: true });
  await waitForMajorFaults(plain.pid, 300);
  await waitForMajorFaults(populating.pid, 300);
}, 120_000);

afterAll(async () => {
  await stopAllGenerators();
});

describe('reconciling majflt with perf samples', { timeout: 300_000 }, () => {
  it('flags the process whose faults come through MADV_POPULATE_READ, not the ordinary reader', async () => {
    const { config, node } = localConfig({ tracer: 'perf', sampleSeconds: 3, captureSeconds: 3 });
    const r = await triageUnpolluted(() => triageNode(config, node, { kind: 'cli' }), [plain.pid, populating.pid]);
    const rec = r.analysis!.reconciliation!;
    console.log(`[reconcile] ${JSON.stringify(rec)}`);
    const byPid = new Map(rec.map((x) => [x.pid, x]));
    expect(byPid.get(plain.pid)).toMatchObject({ undercounted: false });
    expect(byPid.get(plain.pid)!.coverage).toBeGreaterThan(0.5);
    expect(byPid.get(populating.pid)).toMatchObject({ undercounted: true });
    expect(byPid.get(populating.pid)!.majflt).toBeGreaterThan(300);
    expect(byPid.get(populating.pid)!.coverage).toBeLessThan(0.1);
    const note = r.verdict.notes.find((n) => n.startsWith(`pid ${populating.pid} (${populating.comm}) took about`));
    expect(note).toMatch(/but perf recorded \d+ \(\d+%, against \d+% for the other processes\): faults the kernel takes on its behalf \(madvise MADV_POPULATE_READ/);
    expect(r.verdict.notes.some((n) => n.startsWith(`pid ${plain.pid} `) && n.includes('under-counted'))).toBe(false);
    expect(renderReport(r, { reportUrl: null })).toContain('so its share is under-counted');
  });
});
