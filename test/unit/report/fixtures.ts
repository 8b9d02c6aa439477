/**
 * Realistic TriageResults for report tests, one per verdict kind (and per tier where the report differs):
 * facts built with the analysis builders, run through the real analyze(), wrapped with fixed times so the
 * rendered report is stable.
 */
import { analyze } from '../../../src/analysis/analyze.js';
import { failureVerdict as failedVerdict } from '../../../src/model/failure.js';
import { TriageError } from '../../../src/errors.js';
import type { TriageResult, Trigger } from '../../../src/model/triage.js';
import { ADDR, scenario, type ScenarioSpec } from '../analysis/builders.js';

export const CONTAINER_ID = 'a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
export const POD_UID = '0f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b';

const ALERT: Trigger = {
  kind: 'alert',
  alertname: 'NodeMemoryMajorPagesFaults',
  fingerprint: '3f2a9c1d4e5b6a70',
  startsAt: '2026-11-27T03:12:00Z',
  labels: { alertname: 'NodeMemoryMajorPagesFaults', instance: '10.0.3.7:9100', job: 'node', severity: 'warning' },
  annotations: { summary: 'Memory major page faults are occurring at very high rate.' },
};

/** Wraps an analysed scenario into a TriageResult with fixed times and timings. */
export function resultOf(spec: ScenarioSpec, over: { trigger?: Trigger; edit?: (r: TriageResult) => void } = {}): TriageResult {
  const input = scenario({ node: 'node-7', ...spec });
  const { analysis, verdict } = analyze({ ...input, sampleSeconds: 5, captureSeconds: 5 });
  const r: TriageResult = {
    node: 'node-7',
    address: '10.0.3.7:22',
    trigger: over.trigger ?? ALERT,
    startedAt: '2026-11-27T03:27:30.500Z',
    finishedAt: '2026-11-27T03:27:41.400Z',
    window: { sampleSeconds: 5, captureSeconds: 5 },
    timings: [
      { step: 'connect', ms: 180 },
      { step: 'rank', ms: 5040 },
      { step: 'capture', ms: 5410 },
      { step: 'resolve', ms: 210 },
    ],
    nodeInfo: input.rank.node,
    verdict,
    analysis,
  };
  over.edit?.(r);
  return r;
}

const MB = 1024;

export const fixtures: Record<string, () => TriageResult> = {
  /** Anonymous memory and a /dev/shm segment of a java service under a tight limit: perf, high. */
  'swap-thrash': () =>
    resultOf(
      {
      faults: { 4242: { heap: 3100, anon: 700, shm: 1500 }, 1877: { lib: 60 } },
      comm: { 4242: 'java', 1877: 'postgres' },
      nodePerSec: 1312,
      pswpinPerSec: 1290,
      vmSwapKb: { 4242: 812 * MB },
      overrides: {
        4242: {
          user: 'app',
          uid: 1001,
          cmdline: 'java -Xmx4g -XX:+UseG1GC -jar /opt/payments/payments.jar --spring.profiles.active=prod',
          cgroup: ['0::/system.slice/payments.service'],
          smapsSwapKb: { [ADDR.heap.toString(16)]: 600 * MB, [ADDR.anon.toString(16)]: 212 * MB, [ADDR.shm.toString(16)]: 60 * MB },
        },
        1877: { user: 'postgres', cmdline: 'postgres: 15/main: checkpointer', cgroup: ['0::/system.slice/postgresql.service'] },
      },
      },
      {
        // VmSwap per snapshot: it grew 12 MiB over the sample window.
        edit: (r) => {
          r.analysis!.processes[0]!.swapGrowthKb = 12 * MB;
        },
      },
    ),

  /** Two readers of one data file, one in a Kubernetes container: per-file aggregation across processes. */
  'mmap-read': () =>
    resultOf({
      faults: { 7: { file: 900 }, 8: { file: 300, heap: 5 } },
      comm: { 7: 'reader', 8: 'indexer' },
      nodePerSec: 2400,
      readBytesPerSec: { 7: 7.4e6, 8: 2.5e6 },
      overrides: {
        7: {
          user: 'nobody',
          uid: 65534,
          cmdline: '/usr/local/bin/reader --data /data/block --random',
          cgroup: [`0::/kubepods/burstable/pod${POD_UID}/${CONTAINER_ID}`],
        },
        8: { cgroup: ['12:memory:/system.slice/indexer.service', '1:name=systemd:/system.slice/indexer.service', '0::/'] },
      },
    }),

  /** Program text of a binary and of libc re-read under memory pressure. */
  'code-reread': () =>
    resultOf({
      faults: { 9: { text: 800, lib: 150 }, 10: { lib: 40 } },
      comm: { 9: 'nginx', 10: 'sshd' },
      nodePerSec: 640,
      readBytesPerSec: { 9: 3.1e6 },
      overrides: { 9: { cmdline: 'nginx: worker process', user: 'www-data', cgroup: ['0::/system.slice/nginx.service'] } },
    }),

  /** Swap-ins of one process and file reads of another, neither reaching 60%. */
  mixed: () =>
    resultOf({
      faults: { 1: { heap: 500 }, 2: { file: 450 } },
      comm: { 1: 'redis-server', 2: 'backup' },
      nodePerSec: 950,
      pswpinPerSec: 500,
      readBytesPerSec: { 2: 1.9e6 },
      vmSwapKb: { 1: 300 * MB },
    }),

  /** Nothing faulted. */
  quiet: () => resultOf({ nodePerSec: 0, capturePerSec: 0 }),

  /** No tracer, and the /proc counters cannot decide. */
  inconclusive: () =>
    resultOf({
      tier: 'none',
      faults: { 4242: { heap: 1 } },
      rates: { 4242: 1000 },
      comm: { 4242: 'java' },
      pswpinPerSec: 300,
      readBytesPerSec: { 4242: 2e6 },
      attempts: [
        { tier: 'perf', ok: false, reason: 'perf refused (kernel.perf_event_paranoid is 2; needs root or CAP_PERFMON): Access to performance monitoring and observability operations is limited.' },
        { tier: 'bpftrace', ok: false, reason: 'bpftrace is not installed' },
        { tier: 'tracepoint', ok: false, reason: 'perf failed (exit 129): No permissions to read /sys/kernel/tracing/events/exceptions/page_fault_user' },
        { tier: 'none', ok: true, reason: 'no tracer: /proc evidence only' },
      ],
    }),

  /** perf ran, but most captured faults land in a special mapping ([vdso]): neither swap, file nor program text. */
  'inconclusive-perf': () =>
    resultOf({
      faults: { 10: { vdso: 900, heap: 60 } },
      comm: { 10: 'batch' },
      nodePerSec: 1100,
    }),

  /** The triage could not run. */
  failed: () => {
    const r = resultOf({});
    return {
      ...r,
      finishedAt: '2026-11-27T03:27:30.560Z',
      timings: [{ step: 'connect', ms: 40 }],
      nodeInfo: null,
      analysis: null,
      verdict: failedVerdict(new TriageError('host_key_mismatch', 'node-7 (10.0.3.7:22) presented SHA256:Qk8x… but the inventory expects SHA256:9fJ2…'), 'node-7'),
    };
  },

  /** /proc evidence only: swap-ins dominate, and smaps says the swap is shared memory. */
  'swap-thrash-proc-only': () =>
    resultOf({
      tier: 'none',
      faults: { 4242: { shm: 1 } },
      rates: { 4242: 1250 },
      comm: { 4242: 'pft-shmthrash' },
      nodePerSec: 1280,
      pswpinPerSec: 1275,
      vmSwapKb: { 4242: 88 },
      overrides: { 4242: { smapsSwapKb: { [ADDR.shm.toString(16)]: 60 * MB, [ADDR.stack.toString(16)]: 88 } } },
      attempts: [
        { tier: 'perf', ok: false, reason: 'perf is not installed' },
        { tier: 'bpftrace', ok: false, reason: 'bpftrace is not installed' },
        { tier: 'tracepoint', ok: false, reason: 'perf is not installed' },
        { tier: 'none', ok: true, reason: 'no tracer: /proc evidence only' },
      ],
    }),

  /** Forced tracepoint tier: the shares are of all page faults, minor ones included. */
  'mmap-read-tracepoint': () =>
    resultOf(
      {
        tier: 'tracepoint',
        faults: { 7: { file: 4000, heap: 600 } },
        comm: { 7: 'reader' },
        nodePerSec: 900,
        readBytesPerSec: { 7: 3.6e6 },
        attempts: [{ tier: 'tracepoint', ok: true, reason: 'recorded 4600 samples' }],
      },
      {
        trigger: { kind: 'slack', user: 'U024BE7LH', channel: 'C0123456789' },
        edit: (r) => {
          r.analysis!.capture.requested = 'tracepoint';
        },
      },
    ),
};
