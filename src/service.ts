import { performance } from 'node:perf_hooks';
import pino from 'pino';
import type { Log } from './log.js';
import { findNode } from './config/inventory.js';
import type { Config } from './config/schema.js';
import { Dispatcher, type Admission, type Job, type ManualTrigger } from './dispatch/dispatcher.js';
import { TriageError, asTriageError } from './errors.js';
import type { Webhook } from './intake/alertmanager.js';
import { admitWebhook, type Admitted, type WebhookAnswer } from './intake/admit-webhook.js';
import { createMetrics, sshFailureReasons, type Metrics } from './metrics.js';
import type { TriageResult } from './model/triage.js';
import { createLogNotifier } from './notify/log.js';
import type { Notifier } from './notify/notifier.js';
import { createSlackNotifier, type SlackNotifier } from './notify/slack/notifier.js';
import { triageNode } from './pipeline.js';
import { renderReport } from './report/markdown.js';
import { reportUrl, toTriageView, type TriageView } from './server/views.js';
import { failureVerdict } from './store/failure-verdict.js';
import { capEvidence, capReport } from './store/evidence-cap.js';
import { analysisSchema, type Analysis } from './model/verdict.js';
import { startRetention } from './store/retention.js';
import { completeWithRetry, storeWrite } from './store/store-errors.js';
import { TriageStore, type RunOptions } from './store/triage-store.js';

/**
 * The always-on service, one stage after the other:
 *
 *   webhook → intake (validate, route alert to node) → dispatch (dedup, cooldown, queue, limits)
 *   → triage (engine: connect, rank, capture, resolve, verdict) → renderReport → store → notifier
 *
 * A verdict is stored before it is notified, so every notification can link to its report.
 */

/** `triageNode` of src/pipeline.ts: never throws, failures come back as a `failed` verdict. */
export type TriageFn = typeof triageNode;
/** `renderReport` of src/report/markdown.ts. */
export type RenderFn = (result: TriageResult, opts: { reportUrl: string | null }) => string;

export interface ServiceDeps {
  /** The engine; tests of dispatch inject a controllable one. */
  triage?: TriageFn;
  render?: RenderFn;
  notifier?: Notifier;
  log?: Log;
  now?: () => Date;
  /** How often the retention cleanup runs (default hourly); tests make it short. */
  pruneEveryMs?: number;
}

export interface Service {
  readonly config: Config;
  readonly metrics: Metrics;
  readonly store: TriageStore;
  readonly dispatcher: Dispatcher;
  /** Base of report links: `server.publicUrl`, or the listening address once known. */
  publicUrl: string;
  readonly log: Log;
  /** The Slack side (outbox, ephemeral answers) when `slack` is configured and no other notifier was injected. */
  readonly slack: SlackNotifier | undefined;
  /** True while the service takes new triages (false once closing). */
  ready(): boolean;
  receiveWebhook(webhook: Webhook): WebhookAnswer;
  /** Entry point for triages someone asked for (Slack, buttons). Throws TriageError('unknown_node'). */
  requestTriage(nodeName: string, trigger: ManualTrigger, options?: RunOptions): Admission;
  getTriage(id: string): TriageView | undefined;
  listTriages(filter: { node?: string | undefined; limit: number }): TriageView[];
  /** The report, with the analysis from the stored evidence when there is one (for the page's chart). */
  getReport(id: string): { triage: TriageView; markdown: string; analysis: Analysis | null } | undefined;
  /** Stops taking triages, lets running ones finish within `graceSeconds` (default triage.shutdownGraceSeconds), closes the store. */
  close(graceSeconds?: number): Promise<void>;
}

export async function createService(config: Config, deps: ServiceDeps = {}): Promise<Service> {
  const log = deps.log ?? pino({ level: 'info' });
  const now = deps.now ?? (() => new Date());
  const triage: TriageFn = deps.triage ?? triageNode;
  const render: RenderFn = deps.render ?? renderReport;
  const store = TriageStore.open(config.storage.path);
  let publicUrl = config.server.publicUrl ?? `http://${config.server.host}:${config.server.port}`;
  const reportToken = config.server.reportToken;
  const view = (id: string): TriageView | undefined => {
    const r = store.get(id);
    return r && toTriageView(r, publicUrl, reportToken);
  };

  async function notify(what: string, triageId: string | null, call: () => Promise<void>): Promise<void> {
    try {
      await call();
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
      await notify('alertResolved', null, () => notifier.alertResolved(r.node, r.alert, r.cancelled));
    }
  }

  /** The engine for one job; an engine that throws anyway still yields a stored `failed` verdict. */
  async function runEngine(job: Job, signal: AbortSignal, startedAt: Date): Promise<TriageResult> {
    const { id, node } = job;
    try {
      return await triage(config, node, job.trigger, {
        ...job.options,
        signal,
        onProgress: (p) => log.debug({ triageId: id, node: node.name, step: p.step, seconds: p.seconds }, 'triage step'),
        log,
      });
    } catch (err) {
      const e = asTriageError(err);
      return {
        node: node.name,
        address: node.ssh?.host ?? 'local',
        trigger: job.trigger,
        startedAt: startedAt.toISOString(),
        finishedAt: now().toISOString(),
        window: {
          sampleSeconds: job.options.sampleSeconds ?? config.playbook.sampleSeconds,
          captureSeconds: job.options.captureSeconds ?? config.playbook.captureSeconds,
        },
        timings: [],
        nodeInfo: null,
        verdict: failureVerdict(e.code, `the triage crashed: ${e.message}`),
        analysis: null,
      };
    }
  }

  /** triage → renderReport → store → notifier, for a job the dispatcher marked running. */
  async function runTriage(job: Job, signal: AbortSignal): Promise<void> {
    const { id, node } = job;
    log.info({ triageId: id, node: node.name, trigger: job.trigger.kind }, 'triage started');
    const started = view(id);
    if (started) await notify('triageStarted', id, () => notifier.triageStarted(started));
    const t0 = performance.now();
    const result = await runEngine(job, signal, now());
    const url = reportUrl(publicUrl, id, reportToken);
    let markdown: string | null = null;
    try {
      markdown = render(result, { reportUrl: url });
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
    const stored = await completeWithRetry(
      store,
      id,
      {
        status: verdict.kind === 'failed' ? 'failed' : 'done',
        verdict,
        finishedAt: now(),
        reportMarkdown: report?.markdown ?? null,
        resultJson: evidence.json,
      },
      { log, signal },
    );
    if (!stored) {
      log.warn({ triageId: id, node: node.name }, 'triage finished after it was marked interrupted; its result is discarded');
      return;
    }
    const seconds = (performance.now() - t0) / 1000;
    metrics.triages.inc({ trigger: job.trigger.kind, verdict: verdict.kind });
    metrics.duration.observe({ trigger: job.trigger.kind }, seconds);
    const code = verdict.failure?.code;
    if (node.ssh && code && (sshFailureReasons as readonly string[]).includes(code)) metrics.sshFailures.inc({ reason: code });
    log.info({ triageId: id, node: node.name, verdict: verdict.kind, seconds: Number(seconds.toFixed(2)) }, `triage done: ${verdict.summary}`);
    const finished = view(id);
    if (finished) await notify('triageFinished', id, () => notifier.triageFinished(finished, markdown === null ? null : url));
  }

  const dispatcher = new Dispatcher({ triage: config.triage, store, execute: runTriage, log, now });
  const metrics = createMetrics({
    queued: () => dispatcher.queuedCount,
    running: () => dispatcher.runningCount,
    slackPending: () => (store.open ? store.outbox.pendingCount() : 0),
  });
  const slack =
    deps.notifier === undefined && config.slack
      ? createSlackNotifier({ config, slack: config.slack, store, log, metrics, publicUrl: () => publicUrl })
      : undefined;
  const notifier: Notifier = deps.notifier ?? slack ?? createLogNotifier(log);

  recover(config, store, dispatcher, log, now());
  notifier.start?.();
  const retention = startRetention({ store, retentionDays: config.storage.retentionDays, log, now, ...(deps.pruneEveryMs ? { everyMs: deps.pruneEveryMs } : {}) });

  let closing: Promise<void> | undefined;

  return {
    config,
    metrics,
    store,
    dispatcher,
    log,
    slack,
    get publicUrl() {
      return publicUrl;
    },
    set publicUrl(url: string) {
      publicUrl = url;
    },
    ready: () => dispatcher.isAccepting && store.open,

    receiveWebhook(webhook) {
      const admitted = storeWrite('record the alerts', () => store.transaction(() => admitWebhook(webhook, config, dispatcher)), dispatcher.checkpoint());
      for (const o of admitted.outcomes) metrics.alerts.inc({ outcome: o });
      if (webhook.truncatedAlerts > 0) {
        log.warn({ truncatedAlerts: webhook.truncatedAlerts, groupKey: webhook.groupKey }, 'Alertmanager truncated this notification: raise max_alerts on the receiver');
      }
      if (admitted.resolved.length > 0) void notifyResolved(admitted.resolved);
      return admitted.answer;
    },

    requestTriage(nodeName, trigger, options = {}) {
      const node = findNode(config.nodes, nodeName);
      if (!node) throw new TriageError('unknown_node', `there is no node "${nodeName}" in the inventory`);
      return storeWrite('record the triage', () => store.transaction(() => dispatcher.admitManual(node, trigger, options)), dispatcher.checkpoint());
    },

    getTriage: view,
    listTriages: (filter) => store.list(filter).map((r) => toTriageView(r, publicUrl, reportToken)),
    getReport(id) {
      const markdown = store.report(id);
      const triage = markdown === undefined ? undefined : view(id);
      return markdown === undefined || !triage ? undefined : { triage, markdown, analysis: storedAnalysis(store.result(id)) };
    },

    close(graceSeconds = config.triage.shutdownGraceSeconds) {
      closing ??= (async () => {
        retention.stop();
        const { finished, interrupted } = await dispatcher.close(graceSeconds * 1000);
        log.info({ finished: finished.length, interrupted: interrupted.length, queuedLeft: store.open ? store.unfinished().length : null }, 'dispatcher stopped');
        await notifier.close?.();
        store.close();
      })();
      return closing;
    },
  };
}

/**
 * Triages a previous process left unfinished: running ones are marked interrupted (their node was
 * left mid-playbook, and the playbook's own timeouts clean up there); queued ones never started, so
 * they run now if still recent (the alert was answered 202, so Alertmanager will not resend it),
 * and are marked interrupted when older than triage.requeueMaxAgeSeconds.
 */
function recover(config: Config, store: TriageStore, dispatcher: Dispatcher, log: Log, now: Date): void {
  const maxAgeMs = config.triage.requeueMaxAgeSeconds * 1000;
  const resumed: Job[] = [];
  store.transaction(() => {
    for (const r of store.unfinished()) {
      const node = findNode(config.nodes, r.node);
      const ageMs = now.getTime() - Date.parse(r.createdAt);
      let message: string | null = null;
      if (r.status === 'running') message = 'interrupted: the bot stopped while this triage was running';
      else if (!node) message = `interrupted: the bot restarted and node ${r.node} is no longer in the inventory`;
      else if (ageMs > maxAgeMs) message = `interrupted: the bot stopped before this triage started, and after restart it was ${Math.round(ageMs / 1000)} s old (triage.requeueMaxAgeSeconds = ${config.triage.requeueMaxAgeSeconds})`;
      if (message !== null || !node) {
        store.fail(r.id, failureVerdict('interrupted', message ?? 'interrupted'), now, ['queued', 'running']);
        log.warn({ triageId: r.id, node: r.node, was: r.status }, 'triage marked interrupted after restart');
      } else {
        resumed.push({ id: r.id, node, trigger: r.trigger, options: r.options });
      }
    }
  });
  for (const job of resumed) dispatcher.resume(job);
}

/** The analysis inside stored evidence, if it is there and still has its shape (evidence may be trimmed). */
function storedAnalysis(json: string | undefined): Analysis | null {
  if (json === undefined) return null;
  try {
    const parsed = analysisSchema.safeParse((JSON.parse(json) as { analysis?: unknown }).analysis);
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
