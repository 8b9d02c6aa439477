import type { SlackConfig } from '../../config/schema.js';
import type { Log } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import type { OutboxRow, Store } from '../../store/store.js';
import { MESSAGE_GONE_ERRORS, METADATA_EVENT_TYPE, PERMANENT_ERROR_HINTS, type Attempt, type PostedMetadata, type SlackApi } from './client.js';
import { outboxCallSchema, type MessageCall, type OutboxCall } from './outbox-call.js';

/**
 * Delivers the Slack outbox, one call at a time, oldest first (Slack allows about one message per
 * second per channel anyway). A triage's calls go strictly in order. Per outcome:
 * - ok: the row is sent; a posted triage message's channel and ts are stored on the triage;
 * - 5xx, network error, temporary `ok:false`: tried again after an exponential backoff
 *   (slack.retry), until slack.retry.giveUpAfterSeconds;
 * - 429: tried again after its Retry-After, and no other call goes out before then;
 * - permanent `ok:false` (channel_not_found, invalid_auth…): failed, logged with what to do, shown
 *   on the triage, never tried again.
 * Rows live in the store, so whatever is pending at a restart is delivered by the next process. With several
 * replicas, each row is claimed by the one that takes it; a claim whose replica died runs out and another takes it.
 *
 * Never posted twice: every post carries metadata naming its triage and purpose, and is marked unsure in
 * the store before it goes out. A post whose answer never came (a timeout, a lost connection, a crash in
 * the call) stays unsure; its next attempt first looks for it in the channel (conversations.history, or
 * .replies in a thread, from that attempt on) and adopts the message found instead of posting again.
 */

type Method = 'chat.postMessage' | 'chat.update' | 'response_url' | 'conversations.history' | 'conversations.replies';

export interface WorkerDeps {
  store: Store;
  /** This replica's name: a row it takes is claimed for it, so no other replica makes the same call. */
  owner: string;
  api: SlackApi;
  slack: SlackConfig;
  log: Log;
  metrics: Pick<Metrics, 'slackCalls' | 'slackAdopted'>;
  now?: () => number;
}

/** With nothing due, the worker still looks every so often (a row's time may have been set by another path). */
const IDLE_MS = 30_000;
/** After an unexpected error (the store, a bug), pause before the next row. */
const ERROR_PAUSE_MS = 1_000;
/** A row due but held by another replica: look again after this long. */
const CLAIMED_ELSEWHERE_MS = 500;

export class OutboxWorker {
  private readonly deps: WorkerDeps;
  private readonly now: () => number;
  private running: Promise<void> | undefined;
  private closing = false;
  private drainUntil = 0;
  private pausedUntil = 0;
  private wakeUp: (() => void) | undefined;

  constructor(deps: WorkerDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    this.running ??= this.loop();
  }

  /** Something was queued: look now. */
  wake(): void {
    this.wakeUp?.();
  }

  /**
   * Stops after the call in flight, delivering what is due within `drainMs` first. What is left
   * stays pending in the store for the next start.
   */
  async close(drainMs = 2000): Promise<void> {
    this.closing = true;
    this.drainUntil = this.now() + drainMs;
    this.wake();
    await this.running;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /** Long enough for a lookup and a post, each up to slack.requestTimeoutSeconds. */
  private claimMs(): number {
    return Math.max(30_000, 3 * this.deps.slack.requestTimeoutSeconds * 1000);
  }

  private async loop(): Promise<void> {
    const { store, log } = this.deps;
    for (;;) {
      const now = this.now();
      if (!store.open || (this.closing && now >= this.drainUntil)) return;
      if (now < this.pausedUntil) {
        if (this.closing) return;
        await this.sleep(this.pausedUntil - now);
        continue;
      }
      let row: OutboxRow | undefined;
      try {
        row = await store.outbox.claimDue(now, this.deps.owner, this.claimMs());
        if (!row) {
          if (this.closing) return;
          const at = await store.outbox.nextDueAt();
          await this.sleep(at === undefined ? IDLE_MS : Math.min(IDLE_MS, Math.max(at - now, at <= now ? CLAIMED_ELSEWHERE_MS : 0)));
          continue;
        }
        await this.deliver(row);
      } catch (err) {
        if (!store.open) return;
        log.error({ err, outboxSeq: row?.seq }, 'Slack outbox: unexpected error');
        await this.sleep(ERROR_PAUSE_MS);
      }
    }
  }

  private async deliver(row: OutboxRow): Promise<void> {
    const { store, log } = this.deps;
    const parsed = outboxCallSchema.safeParse(parseJson(row.callJson));
    if (!parsed.success) {
      await store.outbox.markFailed(row.seq, this.now(), 'unreadable_outbox_row');
      log.error({ outboxSeq: row.seq, triageId: row.triageId }, 'Slack outbox: a row could not be read; it is dropped');
      return;
    }
    const call: OutboxCall = parsed.data;
    if (call.kind === 'respond') {
      const attempt = await this.deps.api.respond(call.url, call.body);
      if (!store.open) return;
      await this.settle(row, 'response_url', attempt);
      return;
    }
    const { method, args } = await this.resolve(row, call);
    if (method === 'chat.postMessage' && row.triageId) {
      if (row.unsureMs !== null && (await this.adopted({ ...row, triageId: row.triageId, unsureMs: row.unsureMs }, call, args))) return;
      if (!store.open) return;
      await store.outbox.markUnsure(row.seq, this.now());
    }
    const attempt = await this.deps.api.call(method, args);
    if (!store.open) return; // closed under us: the row stays pending for the next start
    // Slack answered (an error status or ok:false: nothing was posted); only a call without an answer
    // (a timeout, a connection lost mid-call) leaves the post unsure.
    if (method === 'chat.postMessage' && !attempt.ok && attempt.outcome !== 'network_error') await store.outbox.clearUnsure(row.seq);
    if (attempt.ok && method === 'chat.postMessage' && call.isTriageMessage && row.triageId && attempt.ts) {
      await store.outbox.setMessage(row.triageId, attempt.channel ?? String(args.channel), attempt.ts);
    }
    if (!attempt.ok && method === 'chat.update' && MESSAGE_GONE_ERRORS.has(attempt.reason) && row.triageId) {
      // Someone deleted the start message: forget it, and post the verdict as a new message.
      this.deps.metrics.slackCalls.inc({ method, outcome: attempt.outcome });
      log.warn({ triageId: row.triageId, error: attempt.reason }, 'Slack: the triage message is gone; posting the verdict as a new message');
      await store.outbox.setMessage(row.triageId, null, null);
      await store.outbox.retryAt(row.seq, this.now(), attempt.reason, false);
      return;
    }
    await this.settle(row, method, attempt);
  }

  /**
   * A post that may have landed unseen: looks for it by its metadata. True when the row is settled here
   * (found and adopted, or the lookup failed and the row waits); false when it is not there: post it.
   */
  private async adopted(row: OutboxRow & { triageId: string; unsureMs: number }, call: MessageCall, args: Record<string, unknown>): Promise<boolean> {
    const { store, log, metrics } = this.deps;
    const channel = String(args.channel);
    const threadTs = typeof args.thread_ts === 'string' ? args.thread_ts : null;
    const lookup = await this.deps.api.findPosted({ channel, threadTs, oldestMs: row.unsureMs, triageId: row.triageId, purpose: row.purpose });
    if (!store.open) return true;
    const method = threadTs ? 'conversations.replies' : 'conversations.history';
    if (!lookup.ok) {
      // Not knowing whether it is there, the post waits: a second message would never be updated.
      await this.settle(row, method, lookup);
      return true;
    }
    metrics.slackCalls.inc({ method, outcome: 'ok' });
    if (lookup.ts === null) return false;
    if (call.isTriageMessage) await store.outbox.setMessage(row.triageId, channel, lookup.ts);
    await store.outbox.markSent(row.seq, this.now());
    metrics.slackAdopted.inc();
    log.info({ triageId: row.triageId, purpose: row.purpose, ts: lookup.ts }, 'Slack: the message posted before the answer was lost is in the channel; adopted, not posted again');
    await this.triageState(row.triageId, null);
    return true;
  }

  /** The concrete call for a message row, from the triage's message as it is now. */
  private async resolve(row: OutboxRow, call: MessageCall): Promise<{ method: 'chat.postMessage' | 'chat.update'; args: Record<string, unknown> }> {
    const posted = row.triageId ? await this.deps.store.outbox.message(row.triageId) : null;
    const { text, blocks } = call.message;
    if (call.updateTriageMessage && posted?.channel && posted.ts) {
      return { method: 'chat.update', args: { channel: posted.channel, ts: posted.ts, text, blocks } };
    }
    const inThread = call.inTriageThread && posted?.channel && posted.ts ? posted : null;
    const threadTs = inThread ? inThread.ts : call.threadTs;
    return {
      method: 'chat.postMessage',
      args: {
        channel: inThread?.channel ?? call.channel,
        text,
        blocks,
        ...(threadTs ? { thread_ts: threadTs } : {}),
        // The report link must not unfold into a preview of the report page.
        unfurl_links: false,
        unfurl_media: false,
        ...(row.triageId ? { metadata: postedMetadata(row.triageId, row.purpose) } : {}),
      },
    };
  }

  private async settle(row: OutboxRow, method: Method, attempt: Attempt): Promise<void> {
    const { store, log, metrics, slack } = this.deps;
    const now = this.now();
    metrics.slackCalls.inc({ method, outcome: attempt.outcome });
    const ctx = { triageId: row.triageId, purpose: row.purpose, method, attempt: row.attempts + 1 };
    if (attempt.ok) {
      await store.outbox.markSent(row.seq, now);
      if (row.attempts > 0) log.info(ctx, `Slack ${method} delivered after ${row.attempts + 1} attempts`);
      else log.debug(ctx, `Slack ${method} delivered`);
      await this.triageState(row.triageId, null);
      return;
    }
    const giveUpAt = row.createdMs + slack.retry.giveUpAfterSeconds * 1000;
    if (!attempt.retry || now >= giveUpAt) {
      const error = attempt.retry ? `gave_up: ${attempt.reason}` : attempt.reason;
      await store.outbox.markFailed(row.seq, now, error);
      const hint = PERMANENT_ERROR_HINTS[attempt.reason];
      log.error(
        { ...ctx, error: attempt.reason, hint },
        attempt.retry
          ? `Slack ${method} failed for ${slack.retry.giveUpAfterSeconds} s (${attempt.reason}); giving up on this message`
          : `Slack ${method} failed: ${attempt.reason}${hint ? ` (${hint})` : ''}; not retried`,
      );
      await this.triageState(row.triageId, error, true);
      return;
    }
    let delayMs: number;
    if (attempt.retryAfterMs !== undefined) {
      delayMs = attempt.retryAfterMs;
      // Slack's rate limit is the app's, not this message's: nothing else goes out before then either.
      this.pausedUntil = Math.max(this.pausedUntil, now + delayMs);
    } else {
      delayMs = Math.min(slack.retry.maxSeconds * 1000, slack.retry.initialSeconds * 1000 * 2 ** row.attempts);
    }
    await store.outbox.retryAt(row.seq, now + delayMs, attempt.reason);
    // The first failure and every tenth are worth a warning; the rest would flood the log in an outage.
    const level = row.attempts % 10 === 0 ? 'warn' : 'debug';
    log[level]({ ...ctx, error: attempt.reason, retryInMs: Math.round(delayMs) }, `Slack ${method} failed (${attempt.reason}); retrying in ${(delayMs / 1000).toFixed(1)} s`);
    await this.triageState(row.triageId, attempt.reason);
  }

  /** The triage's Slack state follows its latest outcome; `error` is the permanent error, or the last transient one while pending. */
  private async triageState(triageId: string | null, error: string | null, failed = false): Promise<void> {
    if (!triageId) return;
    const { store } = this.deps;
    if (failed) {
      await store.outbox.setState(triageId, 'failed', error);
      return;
    }
    const pending = (await store.outbox.triageStates(triageId)).pending;
    await store.outbox.setState(triageId, pending > 0 ? 'pending' : 'sent', error);
  }
}

/** Names the post, so a lookup can tell it from the bot's other messages. */
function postedMetadata(triageId: string, purpose: string): PostedMetadata {
  return { event_type: METADATA_EVENT_TYPE, event_payload: { triage_id: triageId, purpose } };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
