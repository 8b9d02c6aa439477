import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { verdictKindSchema } from './model/verdict.js';

/** Webhook outcomes, one per answer POST /alerts gives. */
export const webhookOutcomes = ['accepted', 'unauthorized', 'invalid', 'too_large', 'unavailable', 'error'] as const;

/** What became of each alert in an accepted webhook. */
export const alertOutcomes = ['queued', 'duplicate', 'cooldown', 'dropped', 'ignored', 'resolved'] as const;
export type AlertOutcome = (typeof alertOutcomes)[number];

/** Failure codes that mean the SSH connection itself failed (src/errors.ts). */
export const sshFailureReasons = ['unreachable', 'connect_timeout', 'auth_refused', 'host_key_mismatch', 'connection_lost'] as const;

const triggerKinds = ['alert', 'cli', 'slack', 'button'] as const;

/** Slack API calls the outbox makes (response_url posts included), and what came back. */
export const slackCallMethods = ['chat.postMessage', 'chat.update', 'response_url', 'conversations.history', 'conversations.replies'] as const;
export const slackCallOutcomes = ['ok', 'platform_error', 'transient_error', 'rate_limited', 'server_error', 'network_error'] as const;
export type SlackCallOutcome = (typeof slackCallOutcomes)[number];

/** Requests Slack sent to POST /slack/commands and /slack/interactions, by route and outcome. */
export const slackRequestOutcomes = ['accepted', 'unauthorized', 'refused', 'invalid'] as const;
export type SlackRequestOutcome = (typeof slackRequestOutcomes)[number];

export interface Metrics {
  registry: Registry;
  webhooks: Counter<'outcome'>;
  alerts: Counter<'outcome'>;
  triages: Counter<'trigger' | 'verdict'>;
  duration: Histogram<'trigger'>;
  sshFailures: Counter<'reason'>;
  slackCalls: Counter<'method' | 'outcome'>;
  slackRequests: Counter<'route' | 'outcome'>;
  /** 1 while the Socket Mode connection is up (hello received), else 0 (always 0 without slack.appToken). */
  slackSocketConnected: Gauge;
  /** Socket Mode connections opened (hello received), the first one included. */
  slackSocketConnects: Counter;
  /** Posts whose outcome the bot did not see, found in Slack by their metadata and taken as delivered (not posted twice). */
  slackAdopted: Counter;
  /** Triages taken over from a replica that stopped renewing its lease: run again, or recorded as interrupted. */
  takeovers: Counter<'outcome'>;
}

/**
 * One registry per service (not prom-client's global one), so tests can build many apps.
 * `queueDepth` reads the dispatcher at scrape time.
 */
export function createMetrics(sample: {
  queued: () => number;
  running: () => number;
  slackPending?: () => number | Promise<number>;
  /** Leases this replica holds (its running triages). */
  leases?: () => number;
  /** Whether the store answered its last check. */
  storeUp?: () => boolean;
  /** This replica's name and its store's kind, for pagefault_triage_replica_info. */
  replica?: { replica: string; store: string };
}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pagefault_triage_' });
  const webhooks = new Counter({
    name: 'pagefault_triage_webhooks_received_total',
    help: 'Alertmanager webhooks received, by outcome.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const alerts = new Counter({
    name: 'pagefault_triage_alerts_received_total',
    help: 'Alerts in accepted webhooks, by what became of them.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const triages = new Counter({
    name: 'pagefault_triage_triages_total',
    help: 'Finished triages, by trigger and verdict kind.',
    labelNames: ['trigger', 'verdict'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'pagefault_triage_triage_duration_seconds',
    help: 'Wall time of a triage run, from start to stored verdict.',
    labelNames: ['trigger'],
    buckets: [1, 2.5, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 300],
    registers: [registry],
  });
  const sshFailures = new Counter({
    name: 'pagefault_triage_ssh_failures_total',
    help: 'Triages of SSH nodes that failed at the connection, by reason.',
    labelNames: ['reason'],
    registers: [registry],
  });
  new Gauge({
    name: 'pagefault_triage_queue_depth',
    help: 'Triages waiting to run.',
    registers: [registry],
    collect() {
      this.set(sample.queued());
    },
  });
  new Gauge({
    name: 'pagefault_triage_triages_running',
    help: 'Triages running now.',
    registers: [registry],
    collect() {
      this.set(sample.running());
    },
  });
  const slackCalls = new Counter({
    name: 'pagefault_triage_slack_calls_total',
    help: 'Slack calls made by the outbox, by method and outcome (platform_error: ok:false, not retried).',
    labelNames: ['method', 'outcome'],
    registers: [registry],
  });
  const slackRequests = new Counter({
    name: 'pagefault_triage_slack_requests_total',
    help: 'Requests from Slack (slash command, buttons), by route and outcome.',
    labelNames: ['route', 'outcome'],
    registers: [registry],
  });
  new Gauge({
    name: 'pagefault_triage_slack_outbox_pending',
    help: 'Slack calls recorded and not yet delivered (waiting for Slack, or for their turn).',
    registers: [registry],
    async collect() {
      this.set((await sample.slackPending?.()) ?? 0);
    },
  });
  const info = new Gauge({
    name: 'pagefault_triage_replica_info',
    help: 'Always 1: this replica\'s name (the lease owner in the store and in logs) and its store (sqlite or postgres).',
    labelNames: ['replica', 'store'],
    registers: [registry],
  });
  if (sample.replica) info.set(sample.replica, 1);
  new Gauge({
    name: 'pagefault_triage_leases_held',
    help: 'Running triages whose lease this replica holds and renews.',
    registers: [registry],
    collect() {
      this.set(sample.leases?.() ?? sample.running());
    },
  });
  new Gauge({
    name: 'pagefault_triage_store_up',
    help: '1 while the store (SQLite file or PostgreSQL) answers, 0 while it does not (/-/ready is then 503).',
    registers: [registry],
    collect() {
      this.set(sample.storeUp?.() === false ? 0 : 1);
    },
  });
  const takeovers = new Counter({
    name: 'pagefault_triage_lease_takeovers_total',
    help: 'Running triages taken over from a replica that stopped renewing its lease: requeued (run again) or interrupted.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const slackSocketConnected = new Gauge({
    name: 'pagefault_triage_slack_socket_connected',
    help: '1 while the Slack Socket Mode connection is up, 0 while it is not (always 0 without slack.appToken).',
    registers: [registry],
  });
  const slackSocketConnects = new Counter({
    name: 'pagefault_triage_slack_socket_connects_total',
    help: 'Slack Socket Mode connections opened (hello received); more than one means it reconnected.',
    registers: [registry],
  });
  const slackAdopted = new Counter({
    name: 'pagefault_triage_slack_messages_adopted_total',
    help: 'Posts whose answer the bot never saw (timeout, crash) that were found in the channel by their metadata instead of posted again.',
    registers: [registry],
  });
  // Zero series up front, so rate() and absent() work before the first event.
  for (const o of webhookOutcomes) webhooks.inc({ outcome: o }, 0);
  for (const o of alertOutcomes) alerts.inc({ outcome: o }, 0);
  for (const r of sshFailureReasons) sshFailures.inc({ reason: r }, 0);
  for (const t of triggerKinds) for (const v of verdictKindSchema.options) triages.inc({ trigger: t, verdict: v }, 0);
  for (const m of slackCallMethods) for (const o of slackCallOutcomes) slackCalls.inc({ method: m, outcome: o }, 0);
  for (const r of ['commands', 'interactions']) for (const o of slackRequestOutcomes) slackRequests.inc({ route: r, outcome: o }, 0);
  for (const o of ['requeued', 'interrupted']) takeovers.inc({ outcome: o }, 0);
  return { registry, webhooks, alerts, triages, duration, sshFailures, slackCalls, slackRequests, slackSocketConnected, slackSocketConnects, slackAdopted, takeovers };
}
