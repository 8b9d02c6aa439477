/**
 * A storm of resolved alerts against a node with a long history, while /-/healthy is probed: each resolved
 * alert makes the Slack notifier look up the triage that alert started (to reply in its thread), so the
 * lookup's cost is paid once per resolved alert, on the event loop every route shares.
 *
 * Used by test/server/resolved-storm.test.ts (loose bound) and bench/resolved-storm.ts (the figure).
 */
import { startServer } from '../../src/server/server.js';
import { TriageError } from '../../src/errors.js';
import { newTriageId } from '../../src/model/ids.js';
import { failureVerdict } from '../../src/model/failure.js';
import { slackTestConfig } from '../slack/helpers.js';
import { SlackStandin } from './slack-standin.js';
import { fakeRender, recordingTriage, tempDir, webhook } from './service.js';

export interface StormOptions {
  /** Triages already stored for the node. */
  stored: number;
  /** Resolved alerts sent. */
  resolved: number;
  /** Resolved alerts per webhook (Alertmanager groups them: one notification may carry the whole group). */
  perWebhook: number;
  /** Webhooks in flight at once. */
  concurrency: number;
}

export interface StormResult {
  /** Every /-/healthy latency measured during the storm, in ms, in order. */
  healthMs: number[];
  /** Wall time of the storm. */
  stormMs: number;
  /** Statuses of the webhooks (all 202 expected), by status. */
  statuses: Map<number, number>;
}

const NODE = 'prod-db-1';
const STARTS_AT = '2026-11-27T03:12:00.000Z';
const fingerprint = (i: number): string => `f${i.toString(16).padStart(15, '0')}`;

export async function resolvedStorm(opts: StormOptions): Promise<StormResult> {
  const standin = await SlackStandin.start();
  const dir = tempDir('pft-storm-');
  const config = slackTestConfig(dir.path, standin, {
    base: { nodes: [{ name: NODE, local: true, match: { instance: `${NODE}:9100` } }], server: { rateLimit: { alerts: 1_000_000 }, bodyLimitBytes: 16 * 1024 * 1024 } },
  });
  const server = await startServer(config, { logger: false, handleSignals: false, triage: recordingTriage().triage, render: fakeRender });
  try {
    // The node's history: `stored` alert triages, finished (as after months of alerts).
    const { store } = server.service;
    const t0 = Date.now() - 3600_000;
    const steps = [];
    for (let i = 0; i < opts.stored; i++) {
      const trigger = { kind: 'alert' as const, alertname: 'NodeMemoryMajorPagesFaults', fingerprint: fingerprint(i), startsAt: STARTS_AT, labels: { instance: `${NODE}:9100` }, annotations: {} };
      const id = newTriageId();
      const dropped = failureVerdict(new TriageError('queue_full', 'dropped'));
      steps.push({ op: 'alert' as const, id, node: NODE, trigger, dedupKey: `${trigger.fingerprint}|${STARTS_AT}`, dropped });
      steps.push({ op: 'cancel' as const, node: NODE, fingerprint: trigger.fingerprint, verdict: failureVerdict(new TriageError('cancelled', 'cancelled: the alert resolved before the triage started')) });
    }
    await store.admit(steps, { cooldownMs: 0, maxQueued: Number.MAX_SAFE_INTEGER }, new Date(t0));

    const alert = (i: number) => ({ labels: { instance: `${NODE}:9100`, n: String(i) }, status: 'resolved' as const, fingerprint: fingerprint(i % Math.max(1, opts.stored)), startsAt: STARTS_AT });
    const bodies = Array.from({ length: Math.ceil(opts.resolved / opts.perWebhook) }, (_, w) =>
      JSON.stringify(webhook(Array.from({ length: Math.min(opts.perWebhook, opts.resolved - w * opts.perWebhook) }, (_, j) => alert(w * opts.perWebhook + j)))),
    );
    // Count the resolved alerts the notifier has handled: the storm lasts until the last one is through.
    const notifier = server.service.slack!;
    const alertResolved = notifier.alertResolved.bind(notifier);
    let handled = 0;
    notifier.alertResolved = async (...args) => {
      try {
        await alertResolved(...args);
      } finally {
        handled++;
      }
    };
    const healthMs: number[] = [];
    let storming = true;
    const prober = (async () => {
      while (storming) {
        const t = performance.now();
        const res = await fetch(`${server.url}/-/healthy`);
        await res.arrayBuffer();
        healthMs.push(performance.now() - t);
        if (res.status !== 200) throw new Error(`/-/healthy answered ${res.status}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const statuses = new Map<number, number>();
    const s0 = performance.now();
    let next = 0;
    const sender = async (): Promise<void> => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const res = await fetch(`${server.url}/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, sender));
    while (handled < opts.resolved) await new Promise((r) => setTimeout(r, 5));
    const stormMs = performance.now() - s0;
    storming = false;
    await prober;
    return { healthMs, stormMs, statuses };
  } finally {
    await server.close();
    await standin.close();
    dir.remove();
  }
}

/** The p-th percentile (0–100) of a sample. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
