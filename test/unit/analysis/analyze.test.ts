import { describe, expect, it } from 'vitest';
import { analyze } from '../../../src/analysis/analyze.js';
import { analysisSchema, verdictSchema } from '../../../src/model/verdict.js';
import { scenario } from './builders.js';

const CONTAINER = 'a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';

describe('analyze', () => {
  it('produces an analysis and a verdict that satisfy their schemas', () => {
    const { analysis, verdict } = analyze(scenario({ faults: { 4242: { heap: 300, file: 50 }, 1877: { anon: 20 } }, pswpinPerSec: 800 }));
    expect(() => analysisSchema.parse(analysis)).not.toThrow();
    expect(() => verdictSchema.parse(verdict)).not.toThrow();
  });

  it('attaches who and swap use to the top processes', () => {
    const { analysis } = analyze(
      scenario({
        faults: { 4242: { heap: 300 }, 1877: { heap: 10 } },
        comm: { 4242: 'java', 1877: 'postgres' },
        vmSwapKb: { 4242: 812 * 1024 },
        overrides: {
          4242: { user: 'app', uid: 1001, cmdline: 'java -Xmx4g -jar payments.jar', cgroup: [`0::/system.slice/docker-${CONTAINER}.scope`] },
          1877: { cgroup: ['0::/system.slice/postgresql.service'] },
        },
      }),
    );
    expect(analysis.processes.map((p) => p.pid)).toEqual([4242, 1877]);
    expect(analysis.processes[0]).toMatchObject({
      comm: 'java',
      swapKb: 812 * 1024,
      who: { user: 'app', uid: 1001, cmdline: 'java -Xmx4g -jar payments.jar', unit: `docker-${CONTAINER}.scope`, container: CONTAINER, podUid: null },
    });
    expect(analysis.processes[1]?.who?.unit).toBe('postgresql.service');
  });

  it('does not attach the identity of a process that reused the pid', () => {
    const { analysis } = analyze(scenario({ faults: { 5: { heap: 100 } }, overrides: { 5: { comm: 'other' } } }));
    expect(analysis.processes[0]).toMatchObject({ pid: 5, comm: 'proc5', who: null, swapKb: null });
  });

  it('keeps topProcesses processes', () => {
    const faults = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [i + 1, { heap: 10 * (i + 1) }]));
    const { analysis } = analyze(scenario({ faults }));
    expect(analysis.processes.map((p) => p.pid)).toEqual([8, 7, 6, 5, 4]);
  });

  it('summarises the capture and the cause shares among resolved samples', () => {
    const { analysis } = analyze(
      scenario({
        tier: 'bpftrace',
        faults: { 1: { heap: 50, file: 25, text: 25 } },
        exited: { 9: 20 },
        lost: 3,
        attempts: [
          { tier: 'perf', ok: false, reason: 'not installed' },
          { tier: 'bpftrace', ok: true, reason: 'kprobe handle_mm_fault' },
        ],
      }),
    );
    expect(analysis.capture).toEqual({
      tier: 'bpftrace',
      reason: 'kprobe handle_mm_fault',
      unavailable: [{ tier: 'perf', reason: 'not installed' }],
      seconds: 5,
      samples: 120,
      majorSamples: 120,
      resolved: 100,
      lost: 3,
      majfltDelta: 5000,
    });
    expect(analysis.shares).toEqual({ swap: 0.5, file: 0.25, code: 0.25, other: 0 });
  });

  it('passes on what the capture targeted and which ranked pids were gone, with a note', () => {
    const input = scenario({ faults: { 1: { heap: 50 } }, pswpinPerSec: 1000 });
    const { analysis, verdict } = analyze({ ...input, capture: { ...input.capture, target: 'pids', pidsGone: [9, 12] } });
    expect(analysis.capture).toMatchObject({ target: 'pids', pidsGone: [9, 12] });
    expect(verdict.notes).toContain('exited before the capture: pid 9, 12');
  });

  it('names unresolved rows of exited processes from the ranking', () => {
    const { analysis } = analyze(scenario({ faults: { 1: { heap: 50 } }, exited: { 9: 20 }, comm: { 9: 'cronjob' } }));
    expect(analysis.mappings.find((m) => m.kind === 'unresolved')).toMatchObject({ pid: 9, comm: 'cronjob', faults: 20 });
  });

  it('counts the tracepoint tier as samples that are not known major', () => {
    const { analysis, verdict } = analyze(scenario({ tier: 'tracepoint', faults: { 1: { heap: 50 } }, pswpinPerSec: 900 }));
    expect(analysis.capture).toMatchObject({ samples: 50, majorSamples: 0, resolved: 50 });
    expect(verdict.notes[0]).toMatch(/^addresses include minor faults/);
  });

  it('fills in the node memory picture with the default alert threshold', () => {
    const { analysis } = analyze(scenario({ faults: { 1: { heap: 10 } }, nodePerSec: 1312, pswpinPerSec: 1290 }));
    expect(analysis.system).toMatchObject({ pgmajfaultPerSec: 1312, pswpinPerSec: 1290, alertThresholdPerSec: 500, windowSeconds: 5 });
    const custom = analyze({ ...scenario({ faults: { 1: { heap: 10 } } }), alertThresholdPerSec: 100 });
    expect(custom.analysis.system.alertThresholdPerSec).toBe(100);
  });
});
