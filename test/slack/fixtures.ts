import { triageResultSchema, type Trigger, type TriageResult } from '../../src/model/triage.js';
import type { Verdict } from '../../src/model/verdict.js';
import type { TriageView } from '../../src/model/triage.js';

/** Fixed triages for the Slack message snapshots: numbers as in examples.md, nothing from a clock. */

export const ID = 'b1ljfqrBIqCZTI-i5yk14Q';
export const REPORT_URL = `https://triage.example/reports/${ID}`;

export const alertTrigger: Extract<Trigger, { kind: 'alert' }> = {
  kind: 'alert',
  alertname: 'NodeMemoryMajorPagesFaults',
  fingerprint: 'c0ffee0000000001',
  startsAt: '2026-11-27T03:12:00Z',
  labels: { alertname: 'NodeMemoryMajorPagesFaults', instance: '10.0.3.7:9100', job: 'node', severity: 'warning' },
  annotations: { summary: 'Memory major page faults are occurring at very high rate.' },
};

export const slackTrigger: Trigger = { kind: 'slack', user: 'U0ALICE', channel: 'C0ONCALL' };

export function swapVerdict(comm = 'java', over: Partial<Verdict> = {}): Verdict {
  return {
    kind: 'swap-thrash',
    summary: `swap thrash in pid 4242 (${comm})`,
    pid: 4242,
    comm,
    path: null,
    confidence: 'high',
    tracer: 'perf',
    faultsPerSec: 1312,
    mappings: [
      { pid: 4242, comm, path: null, label: '[heap]', kind: 'heap', cause: 'swap', deleted: false, start: 0x55d0_0000_0000, end: 0x55d0_4000_0000, faults: 3409, share: 0.81 },
    ],
    notes: [],
    failure: null,
    ...over,
  };
}

export function swapResult(comm = 'java', opts: { trigger?: Trigger; unit?: string; path?: string; label?: string } = {}): TriageResult {
  const verdict = swapVerdict(comm);
  if (opts.label !== undefined) verdict.mappings[0]!.label = opts.label;
  return triageResultSchema.parse({
    node: 'node-7',
    address: '10.0.3.7',
    trigger: opts.trigger ?? alertTrigger,
    startedAt: '2026-11-27T03:27:33.000Z',
    finishedAt: '2026-11-27T03:27:41.000Z',
    window: { sampleSeconds: 5, captureSeconds: 5 },
    timings: [
      { step: 'connect', ms: 210 },
      { step: 'rank', ms: 5000 },
      { step: 'capture', ms: 5000 },
      { step: 'resolve', ms: 200 },
    ],
    nodeInfo: null,
    verdict,
    analysis: {
      processes: [
        {
          pid: 4242,
          comm,
          majflt: 6370,
          majfltPerSec: 1274,
          readBytesPerSec: 5_000_000,
          swapKb: 831_488,
          series: [1200, 1300, 1250, 1310, 1290],
          who: {
            cmdline: opts.path ?? '/usr/bin/java -Xmx4g -jar payments.jar',
            user: 'app',
            uid: 1000,
            cgroup: '/system.slice/payments.service',
            unit: opts.unit ?? 'payments.service',
            container: null,
            podUid: null,
          },
        },
      ],
      mappings: verdict.mappings,
      files: [],
      shares: { swap: 0.97, file: 0.02, code: 0.01, other: 0 },
      system: {
        pgmajfaultPerSec: 1312,
        pswpinPerSec: 1290,
        pswpoutPerSec: 40,
        series: [1250, 1330, 1290, 1340, 1350],
        psiSomeAvg10: 44,
        psiFullAvg10: 31,
        psiSomeWindow: 0.44,
        psiFullWindow: 0.31,
        memTotalKb: 16 * 1024 * 1024,
        memAvailableKb: 300 * 1024,
        swapTotalKb: 2 * 1024 * 1024,
        swapUsedKb: 1.4 * 1024 * 1024,
        alertThresholdPerSec: 500,
      },
      capture: {
        tier: 'perf',
        reason: 'perf record -e major-faults works',
        unavailable: [],
        seconds: 5,
        samples: 4211,
        majorSamples: 4211,
        resolved: 4198,
        lost: 0,
        majfltDelta: 4260,
      },
    },
  });
}

export function viewOf(result: TriageResult, over: Partial<TriageView> = {}): TriageView {
  return {
    id: ID,
    node: result.node,
    trigger: result.trigger,
    status: result.verdict.kind === 'failed' ? 'failed' : 'done',
    createdAt: '2026-11-27T03:27:32.000Z',
    startedAt: result.startedAt,
    finishedAt: result.finishedAt,
    verdict: result.verdict,
    reportUrl: REPORT_URL,
    ...over,
  };
}

export const quietVerdict: Verdict = {
  kind: 'quiet',
  summary: 'no major faults on node-7 during the 10 s window',
  pid: null,
  comm: null,
  path: null,
  confidence: 'high',
  tracer: 'perf',
  faultsPerSec: 0,
  mappings: [],
  notes: [],
  failure: null,
};

export const failedVerdict: Verdict = {
  kind: 'failed',
  summary: 'node-7 is unreachable: connect ECONNREFUSED 10.0.3.7:22',
  pid: null,
  comm: null,
  path: null,
  confidence: null,
  tracer: null,
  faultsPerSec: null,
  mappings: [],
  notes: [],
  failure: { code: 'unreachable', message: 'connect ECONNREFUSED 10.0.3.7:22 (after 3 attempts)', retryable: true },
};
