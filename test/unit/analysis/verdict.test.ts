import { describe, expect, it } from 'vitest';
import { analyze } from '../../../src/analysis/analyze.js';
import {
  decideVerdict,
  MIN_SAMPLES,
  QUIET_MAX_PER_SEC,
  VERDICT_MAPPINGS,
} from '../../../src/analysis/verdict.js';
import { TriageError } from '../../../src/errors.js';
import { failureVerdict as failedVerdict } from '../../../src/model/failure.js';
import { MAJORITY_SHARE } from '../../../src/model/limits.js';
import { scenario, type ScenarioSpec } from './builders.js';

const verdictOf = (spec: ScenarioSpec) => analyze(scenario(spec)).verdict;

describe('decideVerdict with exact major-fault addresses (perf)', () => {
  it('names swap thrash in the top process', () => {
    const v = verdictOf({ faults: { 4242: { heap: 300, anon: 60 }, 1877: { heap: 20 } }, comm: { 4242: 'java' }, pswpinPerSec: 900 });
    expect(v).toMatchObject({
      kind: 'swap-thrash',
      summary: 'swap thrash in pid 4242 (java)',
      pid: 4242,
      comm: 'java',
      path: null,
      confidence: 'high',
      tracer: 'perf',
      faultsPerSec: 1000,
      failure: null,
    });
    expect(v.mappings[0]).toMatchObject({ pid: 4242, label: '[heap]', faults: 300 });
  });

  it('names mmap reads of the top file and its top reader', () => {
    const v = verdictOf({ faults: { 4242: { file: 200 }, 7: { file: 50, heap: 10 } }, comm: { 4242: 'reader' } });
    expect(v).toMatchObject({ kind: 'mmap-read', summary: 'mmap reads of /data/block by pid 4242 (reader)', pid: 4242, comm: 'reader', path: '/data/block', confidence: 'high' });
  });

  it('picks the file with most faults across processes, not the single largest mapping', () => {
    const other = (pid: number) => ({ maps: [{ start: 0x7f40_0000_0000, end: 0x7f60_0000_0000, perms: 'r--s', offset: 0, dev: '08:01', inode: 9, path: '/data/index' }] });
    const v = verdictOf({
      faults: { 1: { file: 40 }, 2: { file: 35 }, 3: { file: 30 }, 4: { file: 45 } },
      overrides: { 4: other(4) },
    });
    expect(v.summary).toBe('mmap reads of /data/block by pid 1 (proc1)');
  });

  it('names program text re-read', () => {
    const v = verdictOf({ faults: { 4242: { text: 90, lib: 20 } }, comm: { 4242: 'foo' } });
    expect(v).toMatchObject({ kind: 'code-reread', summary: 'program text of /usr/bin/foo re-read by pid 4242 (foo)', path: '/usr/bin/foo' });
  });

  it('counts shared memory as swap, never as mmap reads, and says so', () => {
    const v = verdictOf({ faults: { 500: { shm: 80, file: 20 } }, comm: { 500: 'postgres' }, pswpinPerSec: 800 });
    expect(v).toMatchObject({ kind: 'swap-thrash', summary: 'swap thrash in pid 500 (postgres)' });
    expect(v.notes).toContain('80% of resolved faults are in shared memory (/dev/shm/cache), which is swap-backed: counted as swap');
  });

  it('counts files on the node tmpfs mounts as swap', () => {
    const tmpfsFile = { maps: [{ start: 0x7f40_0000_0000, end: 0x7f60_0000_0000, perms: 'r--s', offset: 0, dev: '00:1f', inode: 9, path: '/run/cache.bin' }] };
    const v = verdictOf({ faults: { 1: { file: 50 } }, overrides: { 1: tmpfsFile }, pswpinPerSec: 900 });
    expect(v.kind).toBe('swap-thrash');
  });

  describe(`the ${MAJORITY_SHARE} majority threshold`, () => {
    it('picks a cause at exactly the threshold', () => {
      const v = verdictOf({ faults: { 1: { heap: 60 }, 2: { file: 40 } }, pswpinPerSec: 600 });
      expect(v.kind).toBe('swap-thrash');
    });

    it('is mixed just below it, joining the top two causes', () => {
      const v = verdictOf({ faults: { 1: { heap: 59 }, 2: { file: 41 } }, comm: { 1: 'a', 2: 'b' } });
      expect(v).toMatchObject({ kind: 'mixed', summary: 'swap thrash in pid 1 (a) + mmap reads of /data/block by pid 2 (b)', pid: 1, comm: 'a', path: null });
      expect(v.notes).toContain('no cause reaches 60%: swap 59%, file reads 41%');
    });

    it('orders the mixed summary by share, with three causes', () => {
      const v = verdictOf({ faults: { 1: { heap: 30 }, 2: { file: 25 }, 3: { text: 45 } }, comm: { 3: 'foo' } });
      expect(v.summary).toBe('program text of /usr/bin/foo re-read by pid 3 (foo) + swap thrash in pid 1 (proc1)');
      expect(v.path).toBe('/usr/bin/foo');
    });

    it('is decided among resolved samples only', () => {
      const v = verdictOf({ faults: { 1: { heap: 60, file: 40 } }, exited: { 9: 900 } });
      expect(v.kind).toBe('swap-thrash');
    });
  });

  it('is inconclusive when most faults land in special mappings', () => {
    const v = verdictOf({ faults: { 1: { vdso: 80, heap: 20 } } });
    expect(v).toMatchObject({ kind: 'inconclusive', summary: 'most major faults on node-1 are faults in [vdso] of pid 1 (proc1), not swap, file or program text' });
  });

  it('notes a deleted file that is still mapped, and an exited process', () => {
    const deleted = { maps: [{ start: 0x7f40_0000_0000, end: 0x7f60_0000_0000, perms: 'r--p', offset: 0, dev: '08:01', inode: 9, path: '/data/old.db (deleted)' }] };
    const v = verdictOf({ faults: { 1: { file: 50 } }, overrides: { 1: deleted } });
    expect(v.summary).toBe('mmap reads of /data/old.db by pid 1 (proc1)');
    expect(v.notes).toContain('/data/old.db has been deleted but is still mapped');
  });

  it(`caps the verdict's mapping rows at ${VERDICT_MAPPINGS}`, () => {
    const faults = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [i + 1, { heap: 10 }]));
    const { analysis, verdict } = analyze(scenario({ faults }));
    expect(analysis.mappings).toHaveLength(15);
    expect(verdict.mappings).toHaveLength(VERDICT_MAPPINGS);
  });
});

describe('confidence', () => {
  it('is medium with bpftrace, and with the tracepoint tier, which also says minor faults are included', () => {
    expect(verdictOf({ tier: 'bpftrace', faults: { 1: { heap: 100 } }, pswpinPerSec: 1000 }).confidence).toBe('medium');
    const v = verdictOf({ tier: 'tracepoint', faults: { 1: { heap: 100 } }, pswpinPerSec: 1000 });
    expect(v).toMatchObject({ kind: 'swap-thrash', confidence: 'medium', tracer: 'tracepoint' });
    expect(v.notes.some((n) => n.startsWith('addresses include minor faults'))).toBe(true);
  });

  it(`drops a step with fewer than ${MIN_SAMPLES} resolved samples`, () => {
    const few = verdictOf({ faults: { 1: { heap: MIN_SAMPLES - 1 } }, pswpinPerSec: 1000 });
    expect(few.confidence).toBe('medium');
    expect(few.notes).toContain(`only ${MIN_SAMPLES - 1} resolved samples`);
    expect(verdictOf({ faults: { 1: { heap: MIN_SAMPLES } }, pswpinPerSec: 1000 }).confidence).toBe('high');
  });

  it('drops a step with many unresolved samples, and notes any', () => {
    const many = verdictOf({ faults: { 1: { heap: 70 } }, exited: { 9: 30 }, pswpinPerSec: 1000 });
    expect(many.confidence).toBe('medium');
    expect(many.notes).toContain('30 of 100 samples unresolved (process exited or its maps were read too late)');
    const some = verdictOf({ faults: { 1: { heap: 90 } }, exited: { 9: 10 }, pswpinPerSec: 1000 });
    expect(some.confidence).toBe('high');
    expect(some.notes).toContain('10 of 100 samples unresolved (process exited or its maps were read too late)');
  });

  it('never goes below low', () => {
    const v = verdictOf({ tier: 'tracepoint', faults: { 1: { heap: 5 } }, exited: { 9: 10 }, pswpinPerSec: 0 });
    expect(v.confidence).toBe('low');
  });

  it('drops when /proc contradicts addresses that include minor faults', () => {
    const v = verdictOf({ tier: 'tracepoint', faults: { 1: { heap: 100 } }, pswpinPerSec: 0 });
    expect(v).toMatchObject({ kind: 'swap-thrash', confidence: 'low' });
    expect(v.notes.some((n) => n.includes('not all of these faults may be swap-ins'))).toBe(true);
    // Exact major faults stand (zswap hits are not in pswpin), with the note.
    const perf = verdictOf({ faults: { 1: { heap: 100 } }, pswpinPerSec: 0 });
    expect(perf.confidence).toBe('high');
    expect(perf.notes.some((n) => n.includes('zswap'))).toBe(true);
  });

  it('notes lost samples and unavailable tiers', () => {
    const v = verdictOf({
      tier: 'bpftrace',
      faults: { 1: { heap: 100 } },
      pswpinPerSec: 1000,
      lost: 12,
      attempts: [
        { tier: 'perf', ok: false, reason: 'perf_event_paranoid is 3' },
        { tier: 'bpftrace', ok: true, reason: 'kprobe handle_mm_fault' },
      ],
    });
    expect(v.notes).toEqual(expect.arrayContaining(['perf unavailable: perf_event_paranoid is 3', '12 samples lost by the tracer']));
  });

  it('notes a rate below the alert threshold', () => {
    const v = verdictOf({ faults: { 1: { heap: 100 } }, nodePerSec: 120, pswpinPerSec: 120 });
    expect(v.notes).toContain('120 major faults/s during the sample window, below the alert threshold of 500/s');
  });
});

describe('quiet', () => {
  it('says so when the node took no major faults', () => {
    const v = verdictOf({ nodePerSec: 0 });
    expect(v).toMatchObject({ kind: 'quiet', summary: 'no major faults on node-1 during the 10 s window', pid: null, confidence: 'high', mappings: [] });
  });

  it('names the configured window when given', () => {
    const { verdict } = analyze({ ...scenario({ nodePerSec: 0, node: 'node-7' }), sampleSeconds: 3, captureSeconds: 4 });
    expect(verdict.summary).toBe('no major faults on node-7 during the 7 s window');
  });

  it(`treats fewer than ${QUIET_MAX_PER_SEC}/s as quiet, stray samples included`, () => {
    const v = verdictOf({ nodePerSec: 4, faults: { 1: { text: 3 } } });
    expect(v.kind).toBe('quiet');
    expect(v.notes).toContain(`40 major faults in the window, below ${QUIET_MAX_PER_SEC}/s`);
    expect(verdictOf({ nodePerSec: 6, faults: { 1: { text: 30 } }, capturePerSec: 6 }).kind).not.toBe('quiet');
  });

  it('is not quiet when the capture window saw faults the sample window did not', () => {
    expect(verdictOf({ nodePerSec: 0, capturePerSec: 400, faults: { 1: { heap: 100 } } }).kind).toBe('swap-thrash');
  });

  it('never states a rate in the headline that the quiet decision contradicts, and says which window each number is from', () => {
    // 1 s windows: nothing in the sample window, 11 faults in the capture window, none recorded by perf.
    const s = scenario({ nodePerSec: 0, capturePerSec: 11 });
    s.capture.seconds = 1;
    s.capture.vmstat = [
      { t: 106, pgmajfault: 2_000_000, pswpin: 0, pswpout: 0 },
      { t: 107, pgmajfault: 2_000_011, pswpin: 0, pswpout: 0 },
    ];
    const v = analyze(s).verdict;
    expect(v.kind).toBe('inconclusive');
    expect(v.summary).toMatch(/^11 major faults\/s on node-1 in the capture window \(/);
    expect(v.notes).toContain('perf recorded no major faults while the node counted 11 in the 1 s capture window: decided from /proc evidence');
    expect(v.notes).toContain('0 major faults/s in the 5 s sample window, 11 major faults (11/s) in the 1 s capture window, 0 of them recorded by the tracer');
  });

  it('states the sample window rate when the sample window was the busier one', () => {
    const v = verdictOf({ ...{ tier: 'none' as const }, nodePerSec: 800, capturePerSec: 2, rates: { 4: 800 }, pswpinPerSec: 300 });
    expect(v.summary).toMatch(/^800 major faults\/s on node-1 in the sample window/);
    expect(v.notes).toContain('800 major faults/s in the 5 s sample window, 10 major faults (2/s) in the 5 s capture window, 0 of them recorded by the tracer');
  });

  it('is quiet with the tracepoint tier although it records minor faults', () => {
    const v = verdictOf({ tier: 'tracepoint', nodePerSec: 0, faults: { 1: { heap: 5000 } } });
    expect(v).toMatchObject({ kind: 'quiet', mappings: [], notes: [] });
  });
});

describe('tier none: /proc evidence only', () => {
  const none = { tier: 'none' as const, attempts: [{ tier: 'perf' as const, ok: false, reason: 'perf not installed' }, { tier: 'none' as const, ok: true, reason: 'no tracer' }] };

  it('calls swap thrash when pswpin accounts for most major faults', () => {
    const v = verdictOf({ ...none, rates: { 4242: 950, 7: 50 }, comm: { 4242: 'java' }, pswpinPerSec: 900, vmSwapKb: { 4242: 800 * 1024 } });
    expect(v).toMatchObject({ kind: 'swap-thrash', summary: 'swap thrash in pid 4242 (java)', pid: 4242, confidence: 'low', tracer: 'none' });
    // Its swap and disk reads unread: the node's pswpin decides, an upper bound since it counts readahead pages.
    expect(v.notes).toContain('pswpin 900/s against 1,000 major faults/s (90%; pages, readahead included)');
  });

  it('calls mmap reads when pswpin is ~0 and the top process reads enough from disk', () => {
    const v = verdictOf({ ...none, rates: { 4242: 1000 }, comm: { 4242: 'reader' }, pswpinPerSec: 0, readBytesPerSec: { 4242: 1000 * 4096 } });
    expect(v).toMatchObject({ kind: 'mmap-read', summary: 'mmap reads by pid 4242 (reader)', pid: 4242, path: null, confidence: 'low' });
    expect(v.notes.some((n) => n.includes('file is unknown'))).toBe(true);
  });

  it('does not call mmap reads when the disk reads cannot explain the faults', () => {
    const v = verdictOf({ ...none, rates: { 4242: 1000 }, pswpinPerSec: 0, readBytesPerSec: { 4242: 1000 * 4096 * 0.4 } });
    expect(v.kind).toBe('inconclusive');
  });

  it('is inconclusive in between, saying what was seen and what is missing', () => {
    const v = verdictOf({ ...none, rates: { 4242: 1000 }, comm: { 4242: 'java' }, pswpinPerSec: 300, readBytesPerSec: { 4242: 2e6 } });
    expect(v).toMatchObject({ kind: 'inconclusive', pid: 4242, confidence: 'low' });
    expect(v.summary).toBe(
      '1,000 major faults/s on node-1 in the sample window (pswpin 300 pages/s; top pid 4242 (java) 1,000/s, disk read 2.0 MB/s) but no fault addresses to tell swap-ins from file reads',
    );
  });

  it('is inconclusive when no process shows the faults', () => {
    const v = verdictOf({ ...none, pswpinPerSec: 100 });
    expect(v.summary).toContain('no process showed majflt growth');
    expect(v.pid).toBeNull();
  });

  it('falls back to /proc evidence when the tracer recorded nothing', () => {
    const v = verdictOf({ rates: { 1: 1000 }, pswpinPerSec: 1000 });
    expect(v).toMatchObject({ kind: 'swap-thrash', tracer: 'perf', confidence: 'low' });
    expect(v.notes).toContain('perf recorded no major faults while the node counted 5,000 in the 5 s capture window: decided from /proc evidence');
  });

  it('falls back to /proc evidence when no sample resolved', () => {
    const v = verdictOf({ exited: { 9: 100 }, pswpinPerSec: 20, rates: { 9: 1000 }, readBytesPerSec: { 9: 8e6 } });
    expect(v).toMatchObject({ kind: 'mmap-read', confidence: 'low' });
    expect(v.notes).toContain('none of the 100 samples resolved to a mapping: decided from /proc evidence');
  });

  it('treats a node without swap as having no swap-ins', () => {
    const v = verdictOf({ ...none, rates: { 1: 1000 }, pswpinPerSec: 1000, swapTotalKb: 0, readBytesPerSec: { 1: 8e6 } });
    expect(v.kind).toBe('mmap-read');
  });
});

describe('failedVerdict', () => {
  it('gives the reason and keeps the error', () => {
    const v = failedVerdict(new TriageError('host_key_mismatch', 'node-1 offered SHA256:abc'), 'node-1');
    expect(v).toEqual({
      kind: 'failed',
      summary: 'triage of node-1 failed: host key mismatch',
      pid: null,
      comm: null,
      path: null,
      confidence: null,
      tracer: null,
      faultsPerSec: null,
      mappings: [],
      notes: [],
      failure: { code: 'host_key_mismatch', message: 'node-1 offered SHA256:abc', retryable: false },
    });
    expect(failedVerdict(new TriageError('deadline_exceeded', 'x'), 'n').summary).toBe('triage of n failed: timeout');
    expect(failedVerdict(new TriageError('unreachable', 'x'), 'n').failure?.retryable).toBe(true);
  });
});

describe('decideVerdict on a hand-built analysis', () => {
  it('depends on the analysis alone', () => {
    const { analysis } = analyze(scenario({ faults: { 1: { file: 100 } } }));
    expect(decideVerdict({ node: 'node-9', analysis }).summary).toBe('mmap reads of /data/block by pid 1 (proc1)');
    const quiet = { ...analysis, system: { ...analysis.system, pgmajfaultPerSec: 0 }, capture: { ...analysis.capture, majfltDelta: 0, majorSamples: 0 } };
    expect(decideVerdict({ node: 'node-9', analysis: quiet, windowSeconds: 12 }).summary).toBe('no major faults on node-9 during the 12 s window');
  });
});

describe('reconciling majflt with the tracer\'s samples per process', () => {
  it('flags a process whose majflt the samples cover far less than the other processes\'', () => {
    // Both fault 500/s; perf recorded ~all of pid 1's 2,500 faults but 50 of pid 2's (MADV_POPULATE_READ).
    const { analysis, verdict } = analyze(
      scenario({ faults: { 1: { file: 2400 }, 2: { heap: 50 } }, rates: { 1: 500, 2: 500 }, comm: { 1: 'reader', 2: 'loader' }, pswpinPerSec: 100 }),
    );
    expect(analysis.reconciliation).toEqual([
      { pid: 1, comm: 'reader', majflt: 2500, samples: 2400, coverage: 0.96, othersCoverage: 0.02, undercounted: false },
      { pid: 2, comm: 'loader', majflt: 2500, samples: 50, coverage: 0.02, othersCoverage: 0.96, undercounted: true },
    ]);
    expect(verdict.notes).toContain(
      'pid 2 (loader) took about 2,500 major faults (majflt) in the capture window but perf recorded 50 (2%, against 96% for the other processes): ' +
        'faults the kernel takes on its behalf (madvise MADV_POPULATE_READ, direct I/O into a mapping, /proc/PID/mem) count in majflt but fire no perf event, so its share is under-counted',
    );
  });

  it('flags no one when every process is covered alike (samples lost or cut for all)', () => {
    const { analysis, verdict } = analyze(scenario({ faults: { 1: { file: 300 }, 2: { heap: 200 } } }));
    expect(analysis.reconciliation?.map((r) => r.undercounted)).toEqual([false, false]);
    expect(verdict.notes.some((n) => n.includes('under-counted'))).toBe(false);
  });

  it('is left out for tracers that record minor faults too, and without a tracer', () => {
    expect(analyze(scenario({ tier: 'tracepoint', faults: { 1: { heap: 100 } } })).analysis.reconciliation).toBeUndefined();
    expect(analyze(scenario({ tier: 'none', rates: { 1: 100 } })).analysis.reconciliation).toBeUndefined();
  });
});
