import type { Config, SlackConfig } from '../../config/schema.js';
import type { Log } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import { triageResultSchema, type Trigger, type TriageResult } from '../../model/triage.js';
import type { Notifier } from '../../notify/notifier.js';
import { toTriageView, type TriageView } from '../../server/views.js';
import type { TriageStore } from '../../store/triage-store.js';
import { createSlackApi, type SlackApi } from './client.js';
import { resolvedMessage, startMessage, verdictMessage } from './messages.js';
import type { OutboxCall } from './outbox-call.js';
import { OutboxWorker } from './worker.js';

/**
 * The Slack notifier: each event of a triage becomes a recorded outbox row (the start message, the
 * verdict that replaces it, a reply when the alert resolves), delivered by the OutboxWorker. Nothing
 * here waits for Slack, and nothing is lost if Slack is down or the bot restarts.
 */
export interface SlackNotifier extends Notifier {
  readonly slack: SlackConfig;
  /** Answers the person who pressed a button, privately, through the response_url Slack gave. */
  respond(responseUrl: string, text: string): void;
  /** Starts delivery, and finishes the messages of triages a previous process left "started". */
  start(): void;
  close(): Promise<void>;
}

export interface SlackNotifierDeps {
  config: Config;
  slack: SlackConfig;
  store: TriageStore;
  log: Log;
  metrics: Pick<Metrics, 'slackCalls'>;
  /** Base of report links (known once the server listens). */
  publicUrl: () => string;
  api?: SlackApi;
  now?: () => number;
}

/** Where a triage's messages go: the channel it was asked from (a button: that thread), else slack.channel. */
export function destinationOf(trigger: Trigger, slack: SlackConfig): { channel: string; threadTs: string | null } {
  if ((trigger.kind === 'slack' || trigger.kind === 'button') && trigger.channel) {
    return { channel: trigger.channel, threadTs: trigger.kind === 'button' ? (trigger.threadTs ?? null) : null };
  }
  return { channel: slack.channel, threadTs: null };
}

/** response_urls come signed from Slack, but are only ever posted to Slack itself (or the configured stand-in). */
export function allowedResponseUrl(url: string, slack: SlackConfig): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol === 'https:' && u.hostname === 'hooks.slack.com') return true;
  return u.origin === new URL(slack.apiUrl).origin;
}

export function createSlackNotifier(deps: SlackNotifierDeps): SlackNotifier {
  const { config, slack, store, log } = deps;
  const now = deps.now ?? Date.now;
  const worker = new OutboxWorker({ store, api: deps.api ?? createSlackApi(slack, log), slack, log, metrics: deps.metrics, now });

  function enqueue(triageId: string | null, purpose: string, call: OutboxCall): void {
    if (!store.open) {
      log.warn({ triageId, purpose }, 'Slack: the store is closed; this message is not queued');
      return;
    }
    store.transaction(() => {
      store.outbox.enqueue({ triageId, purpose, callJson: JSON.stringify(call), atMs: now() });
      if (triageId) store.setSlackState(triageId, 'pending', store.get(triageId)?.slack?.error ?? null);
    });
    worker.wake();
  }

  function storedResult(id: string): TriageResult | null {
    const text = store.result(id);
    if (text === undefined) return null;
    try {
      const r = triageResultSchema.safeParse(JSON.parse(text));
      return r.success ? r.data : null;
    } catch {
      return null;
    }
  }

  const notifier: SlackNotifier = {
    slack,

    async triageStarted(triage) {
      const options = store.get(triage.id)?.options ?? {};
      const dest = destinationOf(triage.trigger, slack);
      const message = startMessage({
        triage,
        sampleSeconds: options.sampleSeconds ?? config.playbook.sampleSeconds,
        captureSeconds: options.captureSeconds ?? config.playbook.captureSeconds,
        command: slack.command,
      });
      enqueue(triage.id, 'start', { kind: 'message', ...dest, inTriageThread: false, updateTriageMessage: false, isTriageMessage: true, message });
    },

    async triageFinished(triage, reportUrl) {
      const dest = destinationOf(triage.trigger, slack);
      const message = verdictMessage({ triage, result: storedResult(triage.id), reportUrl, command: slack.command });
      enqueue(triage.id, 'verdict', { kind: 'message', ...dest, inTriageThread: false, updateTriageMessage: true, isTriageMessage: true, message });
    },

    async alertResolved(node, alert) {
      const triage = store.latestForAlert(node, alert.fingerprint, alert.startsAt);
      // Only a triage that has a message gets a reply (a cancelled one never posted anything), and only once.
      if (!triage?.slack) return;
      if (store.outbox.forTriage(triage.id).some((r) => r.purpose === 'resolved')) return;
      const message = resolvedMessage({
        triage,
        alertname: typeof alert.labels.alertname === 'string' ? alert.labels.alertname : 'alert',
        instance: alert.labels.instance ?? null,
        endsAt: alert.endsAt ?? new Date(now()).toISOString(),
      });
      enqueue(triage.id, 'resolved', { kind: 'message', channel: slack.channel, threadTs: null, inTriageThread: true, updateTriageMessage: false, isTriageMessage: false, message });
    },

    respond(responseUrl, text) {
      if (!allowedResponseUrl(responseUrl, slack)) {
        log.warn({ host: URL.canParse(responseUrl) ? new URL(responseUrl).host : null }, 'Slack: response_url is not on hooks.slack.com; no answer sent');
        return;
      }
      enqueue(null, 'respond', { kind: 'respond', url: responseUrl, body: { response_type: 'ephemeral', replace_original: false, text } });
    },

    start() {
      // Triages that ended while the bot was down (marked interrupted) still say "started" in Slack.
      for (const id of store.outbox.startedWithoutVerdict()) {
        const record = store.get(id);
        if (!record) continue;
        const view: TriageView = toTriageView(record, deps.publicUrl(), config.server.reportToken);
        void notifier.triageFinished(view, view.reportUrl);
        log.info({ triageId: id, status: record.status }, 'Slack: finishing the message of a triage that ended while the bot was down');
      }
      worker.start();
    },

    close: () => worker.close(),
  };
  return notifier;
}
