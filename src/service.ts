/**
 * The whole chain, put together in this one file:
 *
 *   intake (webhook, Slack: validate, route alert to node) → dispatch (dedup, cooldown, the store's queue, leases)
 *   → engine: triageNode in pipeline.ts (remote → playbook → analysis: connect, rank, capture, resolve, verdict)
 *   → report (Markdown) → store (verdict, report, evidence) → notify (log, or Slack through its outbox)
 *
 * Each stage lives in its folder and imports only what lies below it (model, config, errors, the store); this
 * file hands each stage what the one before produced. A verdict is stored before it is notified, so every
 * notification can link to its report, and the notifier gets the verdict from here, never from the store.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { findNode } from './config/inventory.js';
import { fetchPrometheusContext } from './context/prometheus.js';
import type { Config } from './config/schema.js';
import { Dispatcher, type Job } from './dispatch/dispatcher.js';
import { recover } from './dispatch/recover.js';
import { asTriageError, TriageError } from './errors.js';
import { admitWebhook, type Admitted, type WebhookAnswer } from './intake/admit-webhook.js';
import type { Webhook } from './intake/alertmanager.js';
import type { IntakeService } from './intake/intake-service.js';
import { startSlackSocket, type SlackSocket } from './intake/slack/socket.js';
import type { Log } from './log.js';
import { createMetrics, sshFailureReasons, type Metrics } from './metrics.js';
import { HISTORY_DAYS, HISTORY_MAX, type LinkedHistoryEntry } from './model/context.js';
import type { PrometheusContext } from './model/prometheus-context.js';
import { failureVerdict } from './model/failure.js';
import { reportUrl } from './model/report-link.js';
import { toTriageView, type Admission, type ManualTrigger, type RunOptions, type TriageRecord, type TriageResult, type TriageView } from './model/triage.js';
import type { Analysis } from './model/verdict.js';
import { createLogNotifier } from './notify/log.js';
import type { Notifier } from './notify/notifier.js';
import { createSlackNotifier, type SlackNotifier } from './notify/slack/notifier.js';
import { triageNode } from './pipeline.js';
import { renderReport } from './report/markdown.js';
import { slackMessages } from './report/slack/messages.js';
import { capEvidence, capReport } from './store/evidence-cap.js';
import { startRetention } from './store/retention.js';
import { openStore } from './store/open.js';
import { completeWithRetry, isStoreError, storeWrite } from './store/store-errors.js';
import type { Store } from './store/store.js';

/** `triageNode` of src/pipeline.ts: never throws, failures come back as a `failed` verdict. */
export type TriageFn = typeof triageNode;
/** `renderReport` of src/report/markdown.ts. */
export type RenderFn = (result: TriageResult, opts: { reportUrl: string | null; history?: readonly LinkedHistoryEntry[]; prometheus?: PrometheusContext | undefined }) => string;

export interface ServiceDeps {
  /** The engine; tests of dispatch inject a controllable one. */
  triage?: TriageFn;
  render?: RenderFn;
  notifier?: Notifier;
  log?: Log;
  now?: () => Date;
  /** How often the retention cleanup runs (default hourly); tests make it short. */
  pruneEveryMs?: number;
  /** False: no Socket Mode connection even with slack.appToken (one-shot commands such as `run`). */
  slackSocket?: boolean;
  /** This replica's name (default: host, pid and a random suffix). */
  replica?: string;
  /** How often the dispatcher looks for work admitted by other replicas and for expired leases (ms). */
  pollMs?: number;
}

export interface Service extends IntakeService {
  readonly store: Store;
  readonly dispatcher: Dispatcher;
  /** This replica's name: it owns the leases of the triages it runs. */
  readonly replica: string;
  /** The Socket Mode connection when `slack.appToken` is set (and not turned off by `ServiceDeps.slackSocket`). */
  readonly slackSocket: SlackSocket | undefined;
  /** Base of report links: `server.publicUrl`, or the listening address once known. */
  publicUrl: string;
  readonly log: Log;
  /** The Slack side (outbox, ephemeral answers) when `slack` is configured and no other notifier was injected. */
  readonly slack: SlackNotifier | undefined;
  getTriage(id: string): Promise<TriageView | undefined>;
  /** The report, with the analysis from the stored evidence when there is one (for the page's chart). */
  getReport(id: string): Promise<{ triage: TriageView; markdown: string; analysis: Analysis | null } | undefined>;
  /** Stops taking triages, lets running ones finish within `graceSeconds` (default triage.shutdownGraceSeconds), closes the store. */
  close(graceSeconds?: number): Promise<void>;
}

export async function createService(config: Config, deps: ServiceDeps = {}): Promise<Service> {
  const log = deps.log ?? pino({ level: 'info' });
  const now = deps.now ?? (() => new Date());
  const store = await openStore(config.storage, log);
  const replica = deps.replica ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  let publicUrl = config.server.publicUrl ?? `http://${config.server.host}:${config.server.port}`;
  const viewOf = (r: TriageRecord): TriageView => toTriageView(r, publicUrl, config.server.reportToken);
  const view = async (id: string): Promise<TriageView | undefined> => {
    const r = await store.get(id);
    return r && viewOf(r);
  };

  // Read at scrape time, once the dispatcher exists.
  const metrics = createMetrics({
    queued: () => dispatcher.queuedCount,
    running: () => dispatcher.runningCount,
    slackPending: async () => (store.open && storeUp ? store.outbox.pendingCount().catch(() => 0) : 0),
    leases: () => dispatcher.runningCount,
    storeUp: () => storeUp,
    replica: { replica, store: store.kind },
  });
  // The stages, top to bottom: dispatch calls `execute` for each job it starts.
  const execute = triageStage({
    config, store, log, now, metrics, viewOf,
    engine: deps.triage ?? triageNode,
    render: deps.render ?? renderReport,
    publicUrl: () => publicUrl,
    notify: (call, what, triageId) => notifyStage(call, what, triageId),
  });
  const dispatcher = new Dispatcher({
    triage: config.triage, store, execute, log, now, replica,
    nodeNamed: (name) => findNode(config.nodes, name),
    ...(deps.pollMs ? { pollMs: deps.pollMs } : {}),
    onTakeover: (_r, outcome) => metrics.takeovers.inc({ outcome }),
  });
  const slack =
    deps.notifier === undefined && config.slack
      ? createSlackNotifier({ slack: config.slack, store, owner: replica, log, metrics, render: slackMessages(config.slack.command), viewOf })
      : undefined;
  const notifier: Notifier = deps.notifier ?? slack ?? createLogNotifier(log);

  /** A notifier's failure is logged and never fails a triage. */
  async function notifyStage(call: (n: Notifier) => Promise<void>, what = 'notify', triageId: string | null = null): Promise<void> {
    try {
      await call(notifier);
    } catch (err) {
      log.error({ triageId, err: asTriageError(err) }, `notifier failed: ${what}`);
    }
  }

  /**
   * One resolved alert per turn of the event loop, after the webhook is answered: a notification resolving a
   * whole group (hundreds of alerts) must not hold every other route while each one is looked up.
   */
  async function notifyResolved(resolved: Admitted['resolved']): Promise<void> {
    for (const r of resolved) {
      await new Promise<void>((done) => setImmediate(done));
      if (!store.open) return;
      let latest;
      try {
        latest = await store.latestForAlert(r.node, r.fingerprint, r.startsAt);
      } catch (err) {
        log.warn({ node: r.node, err: asTriageError(err) }, 'cannot look up the triage of a resolved alert; no resolved reply');
        continue;
      }
      const alert = { ...r, triage: latest ? { id: latest.id, status: latest.status } : null };
      await notifyStage((n) => n.alertResolved(alert), 'alertResolved', latest?.id ?? null);
    }
  }

  /**
   * Whether the store answers: /-/ready says 503 while it does not (the load balancer then sends webhooks to a
   * replica that can store them). Checked every second, and set at once by any request that found it away.
   */
  let storeUp = true;
  const checkStore = async () => {
    try {
      await store.health();
      if (!storeUp) log.info({ store: store.kind, location: store.location }, 'the store is reachable again');
      storeUp = true;
    } catch (err) {
      if (!isStoreError(err)) throw err;
      if (storeUp) log.error({ store: store.kind, err: asTriageError(err) }, 'the store is unreachable: /-/ready answers 503 and webhooks are refused with 503 until it is back');
      storeUp = false;
    }
  };
  const storeWatch = setInterval(() => void checkStore().catch((err: unknown) => log.error({ err }, 'store check crashed')), 1000).unref();
  /** A store write that failed for want of the store marks it down at once. */
  const guarded = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await storeWrite(what, fn);
    } catch (err) {
      if (isStoreError(err)) storeUp = false;
      throw err;
    }
  };

  await recover(config, store, log, now());
  await notifier.start?.();
  dispatcher.start();
  log.info({ replica, store: store.kind, location: store.location }, 'replica started');
  const retention = startRetention({ store, retentionDays: config.storage.retentionDays, log, now, ...(deps.pruneEveryMs ? { everyMs: deps.pruneEveryMs } : {}) });

  let closing: Promise<void> | undefined;
  let slackSocket: SlackSocket | undefined;

  const service: Service = {
    config,
    metrics,
    store,
    dispatcher,
    log,
    slack,
    get slackSocket() {
      return slackSocket;
    },
    get publicUrl() {
      return publicUrl;
    },
    set publicUrl(url: string) {
      publicUrl = url;
    },
    replica,
    ready: () => dispatcher.isAccepting && store.open && storeUp,
    storeReachable: () => storeUp,

    async receiveWebhook(webhook: Webhook): Promise<WebhookAnswer> {
      const admitted = await guarded('record the alerts', () => admitWebhook(webhook, config, dispatcher));
      for (const o of admitted.outcomes) metrics.alerts.inc({ outcome: o });
      if (webhook.truncatedAlerts > 0) {
        log.warn({ truncatedAlerts: webhook.truncatedAlerts, groupKey: webhook.groupKey }, 'Alertmanager truncated this notification: raise max_alerts on the receiver');
      }
      if (admitted.resolved.length > 0) void notifyResolved(admitted.resolved);
      return admitted.answer;
    },

    async requestTriage(nodeName: string, trigger: ManualTrigger, options: RunOptions = {}): Promise<Admission> {
      const node = findNode(config.nodes, nodeName);
      if (!node) throw new TriageError('unknown_node', `there is no node "${nodeName}" in the inventory`);
      const [admission] = await guarded('record the triage', () => dispatcher.admit([{ op: 'manual', node, trigger, options }]));
      if (!admission || admission.status === 'cancelled') throw new Error('admission of a manual triage answered nothing');
      return admission;
    },

    respond(responseUrl: string, text: string) {
      slack?.respond(responseUrl, text);
    },

    async handleOnce(key, handle) {
      // The key is claimed first: a second delivery, at any replica, starts nothing. If handling fails the claim
      // is given back, so Slack's redelivery is handled.
      const first = await guarded('record the Slack request', () => store.deliveries.claim(key, now().getTime()));
      if (!first) return { first: false, answer: await guarded('read the Slack request', () => store.deliveries.answer(key)) };
      try {
        const answer = await handle();
        await guarded('record the Slack answer', () => store.deliveries.setAnswer(key, answer));
        return { first: true, answer };
      } catch (err) {
        await store.deliveries.release(key).catch((e: unknown) => log.warn({ key, err: asTriageError(e) }, 'cannot release the Slack request key'));
        throw err;
      }
    },

    getTriage: view,
    listTriages: async (filter) => (await store.list(filter)).map(viewOf),
    async getReport(id) {
      const markdown = await store.report(id);
      const triage = markdown === undefined ? undefined : await view(id);
      return markdown === undefined || !triage ? undefined : { triage, markdown, analysis: await store.analysis(id) };
    },

    close(graceSeconds = config.triage.shutdownGraceSeconds) {
      closing ??= (async () => {
        await slackSocket?.close();
        retention.stop();
        clearInterval(storeWatch);
        const { finished, interrupted } = await dispatcher.close(graceSeconds * 1000);
        const queuedLeft = store.open ? await store.queuedCount().catch(() => null) : null;
        log.info({ finished: finished.length, interrupted: interrupted.length, queuedLeft }, 'dispatcher stopped');
        await notifier.close?.();
        await store.close();
      })();
      return closing;
    },
  };
  // Commands and buttons over Socket Mode, once everything they hand over to exists.
  if (config.slack?.appToken !== undefined && deps.slackSocket !== false) {
    slackSocket = startSlackSocket(service, { ...config.slack, appToken: config.slack.appToken }, log);
  }
  return service;
}

interface TriageStageDeps {
  config: Config;
  store: Store;
  log: Log;
  now: () => Date;
  metrics: Metrics;
  engine: TriageFn;
  render: RenderFn;
  viewOf: (r: TriageRecord) => TriageView;
  publicUrl: () => string;
  notify: (call: (n: Notifier) => Promise<void>, what: string, triageId: string) => Promise<void>;
}

/**
 * One job the dispatcher marked running, through the rest of the chain: announce → engine → report → store →
 * notify. The verdict, the report and the view flow forward from here to the notifier.
 */
function triageStage(deps: TriageStageDeps): (job: Job, signal: AbortSignal) => Promise<void> {
  const { config, store, log, now, metrics } = deps;
  return async (job, signal) => {
    const { id, node, trigger, options } = job;
    const sampleSeconds = options.sampleSeconds ?? config.playbook.sampleSeconds;
    const captureSeconds = options.captureSeconds ?? config.playbook.captureSeconds;
    log.info({ triageId: id, node: node.name, trigger: trigger.kind }, 'triage started');
    await deps.notify((n) => n.triageStarted({ id, node: node.name, trigger, sampleSeconds, captureSeconds }), 'triageStarted', id);

    const t0 = performance.now();
    // The hour before, from Prometheus, while the node is triaged: bounded by prometheus.timeoutSeconds, never throws.
    const [result, prometheus] = await Promise.all([
      runEngine(deps, job, signal, { sampleSeconds, captureSeconds }),
      fetchPrometheusContext(config, node, trigger, { now: now(), signal }),
    ]);
    const url = reportUrl(deps.publicUrl(), id, config.server.reportToken);
    const context = { history: await earlierTriages(store, node.name, now(), log), ...(prometheus ? { prometheus } : {}) };
    const history = context.history.map((h) => ({ ...h, reportUrl: reportUrl(deps.publicUrl(), h.id, config.server.reportToken) }));
    let markdown: string | null = null;
    try {
      markdown = deps.render(result, { reportUrl: url, history, prometheus: context.prometheus });
    } catch (err) {
      log.error({ triageId: id, node: node.name, err: asTriageError(err, 'template_missing') }, 'report rendering failed; the verdict is stored without a report');
    }

    const { verdict } = result;
    if (!store.open) {
      log.warn({ triageId: id, node: node.name }, 'triage finished after the store closed; it stays marked interrupted');
      return;
    }
    // storage.maxEvidenceBytes: a node cannot grow the store without bound; what was cut is said in the record.
    const evidence = capEvidence(result, config.storage.maxEvidenceBytes);
    const report = markdown === null ? null : capReport(markdown, config.storage.maxEvidenceBytes);
    if (evidence.trim || report?.cut) log.warn({ triageId: id, node: node.name, evidenceTrimmed: evidence.trim, reportCut: report?.cut }, 'triage evidence over storage.maxEvidenceBytes: trimmed');
    const finishedAt = now();
    const status = verdict.kind === 'failed' ? 'failed' : 'done';
    // Kept in memory and retried while the store is away; stored only while this replica still holds the lease.
    const stored = await completeWithRetry(
      store,
      id,
      job.owner,
      { status, verdict, finishedAt, reportMarkdown: report?.markdown ?? null, resultJson: evidence.json },
      { log, signal },
    );
    if (!stored) {
      log.warn({ triageId: id, node: node.name }, 'triage finished after it was marked interrupted or taken over by another replica; its result is discarded');
      return;
    }
    try {
      await store.setContext(id, context);
    } catch (err) {
      log.warn({ triageId: id, err: asTriageError(err) }, 'cannot store the triage context; the verdict is stored');
    }

    const seconds = (performance.now() - t0) / 1000;
    metrics.triages.inc({ trigger: trigger.kind, verdict: verdict.kind });
    metrics.duration.observe({ trigger: trigger.kind }, seconds);
    const code = verdict.failure?.code;
    if (node.ssh && code && (sshFailureReasons as readonly string[]).includes(code)) metrics.sshFailures.inc({ reason: code });
    log.info({ triageId: id, node: node.name, verdict: verdict.kind, seconds: Number(seconds.toFixed(2)) }, `triage done: ${verdict.summary}`);

    // What was just stored, as the store would show it, built from what is in hand.
    const view = deps.viewOf({
      id,
      node: node.name,
      trigger,
      options,
      status,
      createdAt: job.createdAt,
      startedAt: job.startedAt ?? result.startedAt,
      finishedAt: finishedAt.toISOString(),
      verdict,
      hasReport: report !== null,
      slack: null,
      context,
    });
    await deps.notify((n) => n.triageFinished({ view, result, reportUrl: markdown === null ? null : url, history }), 'triageFinished', id);
  };
}

/** The node's earlier finished triages: context for the report, never a reason to fail the triage. */
async function earlierTriages(store: Store, node: string, now: Date, log: Log) {
  try {
    return store.open ? await store.history(node, new Date(now.getTime() - HISTORY_DAYS * 86_400_000), HISTORY_MAX) : [];
  } catch (err) {
    log.warn({ node, err: asTriageError(err) }, 'cannot read the node\'s earlier triages; the report goes without them');
    return [];
  }
}

/** The engine for one job; an engine that throws anyway still yields a `failed` verdict to store. */
async function runEngine(deps: TriageStageDeps, job: Job, signal: AbortSignal, window: { sampleSeconds: number; captureSeconds: number }): Promise<TriageResult> {
  const { id, node } = job;
  const startedAt = deps.now();
  try {
    return await deps.engine(deps.config, node, job.trigger, {
      ...job.options,
      signal,
      onProgress: (p) => deps.log.debug({ triageId: id, node: node.name, step: p.step, seconds: p.seconds }, 'triage step'),
      log: deps.log,
    });
  } catch (err) {
    const e = asTriageError(err);
    return {
      node: node.name,
      address: node.ssh?.host ?? 'local',
      trigger: job.trigger,
      startedAt: startedAt.toISOString(),
      finishedAt: deps.now().toISOString(),
      window,
      timings: [],
      nodeInfo: null,
      verdict: failureVerdict(new TriageError(e.code, `the triage crashed: ${e.message}`)),
      analysis: null,
    };
  }
}
