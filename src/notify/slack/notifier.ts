import type { SlackConfig } from '../../config/schema.js';
import type { Log } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import type { ResolvedAlert } from '../../model/alert.js';
import type { SlackMessage } from '../../model/slack.js';
import type { TriageOutcome, TriageRecord, TriageStart, TriageView, Trigger } from '../../model/triage.js';
import type { Store } from '../../store/store.js';
import type { Notifier } from '../notifier.js';
import { createSlackApi, type SlackApi } from './client.js';
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

/** The renderer of a triage's three messages (report/slack/messages.ts slackMessages): injected, so delivery never renders. */
export interface SlackRenderer {
  start(start: TriageStart): SlackMessage;
  verdict(outcome: TriageOutcome): SlackMessage;
  resolved(alert: ResolvedAlert & { triage: NonNullable<ResolvedAlert['triage']> }): SlackMessage;
}

export interface SlackNotifierDeps {
  slack: SlackConfig;
  store: Store;
  /** This replica's name (claims outbox rows). */
  owner: string;
  log: Log;
  metrics: Pick<Metrics, 'slackCalls' | 'slackAdopted'>;
  render: SlackRenderer;
  /** How a stored triage is shown (report links need the public URL, known once the server listens). */
  viewOf: (record: TriageRecord) => TriageView;
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
  const { slack, store, log, render } = deps;
  const now = deps.now ?? Date.now;
  const worker = new OutboxWorker({ store, owner: deps.owner, api: deps.api ?? createSlackApi(slack, log), slack, log, metrics: deps.metrics, now });

  /** A triage's message of one purpose is queued once, whichever replica (or restart) asks. */
  async function enqueue(triageId: string | null, purpose: string, call: OutboxCall): Promise<void> {
    if (!store.open) {
      log.warn({ triageId, purpose }, 'Slack: the store is closed; this message is not queued');
      return;
    }
    const seq = await store.outbox.enqueue({ triageId, purpose, callJson: JSON.stringify(call), atMs: now() });
    if (seq === null) log.info({ triageId, purpose }, 'Slack: this message was queued already (by another replica or an earlier run); not queued twice');
    else worker.wake();
  }

  const notifier: SlackNotifier = {
    slack,

    async triageStarted(start) {
      const dest = destinationOf(start.trigger, slack);
      const message = render.start(start);
      await enqueue(start.id, 'start', { kind: 'message', ...dest, inTriageThread: false, updateTriageMessage: false, isTriageMessage: true, message });
    },

    async triageFinished(outcome) {
      const dest = destinationOf(outcome.view.trigger, slack);
      const message = render.verdict(outcome);
      await enqueue(outcome.view.id, 'verdict', { kind: 'message', ...dest, inTriageThread: false, updateTriageMessage: true, isTriageMessage: true, message });
    },

    async alertResolved(alert) {
      const { triage } = alert;
      // Only a triage that has a message gets a reply (a cancelled one never posted anything), and only once.
      if (!triage || !(await store.outbox.hasQueued(triage.id, 'start')) || (await store.outbox.hasQueued(triage.id, 'resolved'))) return;
      const message = render.resolved({ ...alert, triage });
      await enqueue(triage.id, 'resolved', { kind: 'message', channel: slack.channel, threadTs: null, inTriageThread: true, updateTriageMessage: false, isTriageMessage: false, message });
    },

    respond(responseUrl, text) {
      if (!allowedResponseUrl(responseUrl, slack)) {
        log.warn({ host: URL.canParse(responseUrl) ? new URL(responseUrl).host : null }, 'Slack: response_url is not on hooks.slack.com; no answer sent');
        return;
      }
      enqueue(null, 'respond', { kind: 'respond', url: responseUrl, body: { response_type: 'ephemeral', replace_original: false, text } }).catch((err: unknown) => log.error({ err }, 'Slack: cannot queue the private answer: the store is unavailable'));
    },

    async start() {
      // Triages that ended while the bot was down (marked interrupted) still say "started" in Slack.
      for (const id of await store.outbox.startedWithoutVerdict()) {
        const record = await store.get(id);
        if (!record) continue;
        const view = deps.viewOf(record);
        await notifier.triageFinished({ view, result: await store.evidence(id), reportUrl: view.reportUrl });
        log.info({ triageId: id, status: record.status }, 'Slack: finishing the message of a triage that ended while the bot was down');
      }
      worker.start();
    },

    close: () => worker.close(),
  };
  return notifier;
}
