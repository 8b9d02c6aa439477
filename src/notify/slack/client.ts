import { ErrorCode, WebClient, type Logger, type LogLevel } from '@slack/web-api';
import type { SlackConfig } from '../../config/schema.js';
import type { Log } from '../../log.js';
import type { SlackCallOutcome } from '../../metrics.js';

/**
 * One Slack call, made once, and what its outcome means for the outbox: done, retry later (and
 * when), or a permanent error nobody should retry. The WebClient does not retry by itself: the
 * outbox is the one place that decides, so a restart or an outage never multiplies calls.
 */

export type Attempt =
  | { ok: true; outcome: 'ok'; channel: string | null; ts: string | null }
  | { ok: false; outcome: Exclude<SlackCallOutcome, 'ok'>; retry: boolean; reason: string; retryAfterMs?: number };

/** `ok:false` errors Slack documents as temporary. Every other one is permanent. */
const TRANSIENT_PLATFORM_ERRORS = new Set(['internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'ratelimited', 'rate_limited']);

/** chat.update errors that mean the message to update is gone: post a new one instead. */
export const MESSAGE_GONE_ERRORS = new Set(['message_not_found', 'cant_update_message', 'edit_window_closed']);

/** What to do about a permanent error, for the log. */
export const PERMANENT_ERROR_HINTS: Record<string, string> = {
  channel_not_found: 'the channel does not exist or the bot cannot see it: set slack.channel to a channel ID (C…) the app was invited to',
  not_in_channel: 'the bot is not a member of the channel: invite it there with /invite',
  is_archived: 'the channel is archived',
  invalid_auth: 'slack.token (SLACK_BOT_TOKEN) is not valid: use the Bot User OAuth Token (xoxb-…) of the installed app',
  not_authed: 'no token was sent: set slack.token (SLACK_BOT_TOKEN)',
  token_revoked: 'the token was revoked: reinstall the app and update SLACK_BOT_TOKEN',
  account_inactive: 'the token belongs to a deactivated app or user: reinstall the app',
  missing_scope: 'the app lacks a scope: reinstall it from config/slack-app-manifest.yaml (chat:write, commands, channels:history, groups:history)',
  msg_too_long: 'the message was too long for Slack: please report this as a bug',
  invalid_blocks: 'Slack refused the message blocks: please report this as a bug',
  restricted_action: 'a workspace setting prevents the bot from posting in this channel',
};

/** What every message the bot posts carries (Slack message metadata), so it can be found again. */
export const METADATA_EVENT_TYPE = 'pagefault_triage';

export interface PostedMetadata {
  event_type: typeof METADATA_EVENT_TYPE;
  event_payload: { triage_id: string; purpose: string };
}

/** Where to look for a post that may have landed: a channel, or a thread in it; from `oldestMs` on. */
export interface LookFor {
  channel: string;
  threadTs: string | null;
  oldestMs: number;
  triageId: string;
  purpose: string;
}

export type Lookup = { ok: true; outcome: 'ok'; ts: string | null } | Extract<Attempt, { ok: false }>;

export interface SlackApi {
  call(method: 'chat.postMessage' | 'chat.update', args: Record<string, unknown>): Promise<Attempt>;
  respond(url: string, body: object): Promise<Attempt>;
  /** The ts of the bot's message with this triage id and purpose in its metadata, or null when there is none. */
  findPosted(where: LookFor): Promise<Lookup>;
}

/** Slack's clock and ours may differ a little: look this far before the attempt. */
const LOOKUP_SKEW_MS = 60_000;

/** The history/replies arguments for a lookup: metadata included, a short window. */
export function lookupArgs(where: LookFor): { method: 'conversations.history' | 'conversations.replies'; args: Record<string, unknown> } {
  const oldest = (Math.max(0, where.oldestMs - LOOKUP_SKEW_MS) / 1000).toFixed(6);
  const common = { channel: where.channel, oldest, inclusive: true, include_all_metadata: true, limit: 200 };
  return where.threadTs ? { method: 'conversations.replies', args: { ...common, ts: where.threadTs } } : { method: 'conversations.history', args: common };
}

/** The ts of the first message whose metadata names this triage and purpose. */
export function matchPosted(messages: unknown, where: Pick<LookFor, 'triageId' | 'purpose'>): string | null {
  if (!Array.isArray(messages)) return null;
  for (const m of messages as { ts?: unknown; metadata?: { event_type?: unknown; event_payload?: { triage_id?: unknown; purpose?: unknown } } }[]) {
    const md = m?.metadata;
    if (md?.event_type === METADATA_EVENT_TYPE && md.event_payload?.triage_id === where.triageId && md.event_payload?.purpose === where.purpose && typeof m.ts === 'string') {
      return m.ts;
    }
  }
  return null;
}

/** WebClient's own logging goes to our debug level: the outbox logs every outcome itself. */
function quietLogger(log: Log): Logger {
  let level = 'debug' as LogLevel;
  const debug = (...msg: unknown[]) => log.debug({ component: 'slack-web-api' }, msg.map(String).join(' '));
  return {
    debug,
    info: debug,
    warn: debug,
    error: debug,
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}

export function createSlackApi(slack: SlackConfig, log: Log): SlackApi {
  const timeoutMs = slack.requestTimeoutSeconds * 1000;
  const client = new WebClient(slack.token, {
    slackApiUrl: slack.apiUrl.endsWith('/') ? slack.apiUrl : `${slack.apiUrl}/`,
    // One try per call: the outbox retries, with backoff that survives restarts. WebClient's default
    // would retry 10 times over ~30 minutes on its own, invisible to the store.
    retryConfig: { retries: 0 },
    // A 429 comes back at once with its Retry-After instead of WebClient pausing its queue.
    rejectRateLimitedCalls: true,
    timeout: timeoutMs,
    logger: quietLogger(log),
  });

  return {
    async call(method, args) {
      try {
        const res = (await client.apiCall(method, args)) as { channel?: unknown; ts?: unknown };
        return { ok: true, outcome: 'ok', channel: typeof res.channel === 'string' ? res.channel : null, ts: typeof res.ts === 'string' ? res.ts : null };
      } catch (err) {
        return classify(err);
      }
    },

    async findPosted(where) {
      const { method, args } = lookupArgs(where);
      try {
        const res = (await client.apiCall(method, args)) as { messages?: unknown };
        return { ok: true, outcome: 'ok', ts: matchPosted(res.messages, where) };
      } catch (err) {
        const a = classify(err);
        return a.ok ? { ok: true, outcome: 'ok', ts: null } : a;
      }
    },

    async respond(url, body) {
      let res: Response;
      try {
        res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
      } catch (err) {
        return { ok: false, outcome: 'network_error', retry: true, reason: networkReason(err) };
      }
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { ok: true, outcome: 'ok', channel: null, ts: null };
      if (res.status === 429) {
        return { ok: false, outcome: 'rate_limited', retry: true, reason: 'ratelimited', retryAfterMs: retryAfterMs(res.headers.get('retry-after')) };
      }
      if (res.status >= 500 || res.status === 408) return { ok: false, outcome: 'server_error', retry: true, reason: `http_${res.status}` };
      // 404 expired_url and the like: a response_url lives 30 minutes and 5 uses.
      return { ok: false, outcome: 'platform_error', retry: false, reason: `http_${res.status}` };
    },
  };
}

function retryAfterMs(header: string | null): number {
  const s = header === null ? NaN : Number(header);
  return Number.isFinite(s) && s >= 0 ? s * 1000 : 1000;
}

function networkReason(err: unknown): string {
  const e = err as { name?: string; code?: string; cause?: { code?: string } };
  if (e?.name === 'TimeoutError') return 'timeout';
  return e?.cause?.code ?? e?.code ?? 'network_error';
}

/** Sorts a WebClient error into the outbox's outcomes. */
export function classify(err: unknown): Attempt {
  const e = err as { code?: string; data?: { error?: string }; retryAfter?: number; statusCode?: number; original?: unknown; message?: string };
  switch (e?.code) {
    case ErrorCode.PlatformError: {
      const reason = e.data?.error ?? 'unknown_error';
      return TRANSIENT_PLATFORM_ERRORS.has(reason)
        ? { ok: false, outcome: 'transient_error', retry: true, reason }
        : { ok: false, outcome: 'platform_error', retry: false, reason };
    }
    case ErrorCode.RateLimitedError:
      return { ok: false, outcome: 'rate_limited', retry: true, reason: 'ratelimited', retryAfterMs: (e.retryAfter ?? 1) * 1000 };
    case ErrorCode.HTTPError: {
      const status = e.statusCode ?? 0;
      const retry = status >= 500 || status === 408;
      return { ok: false, outcome: retry ? 'server_error' : 'platform_error', retry, reason: `http_${status}` };
    }
    case ErrorCode.RequestError: {
      const original = e.original as { code?: string; message?: string } | undefined;
      return { ok: false, outcome: 'network_error', retry: true, reason: original?.code ?? 'network_error' };
    }
    default:
      return { ok: false, outcome: 'platform_error', retry: false, reason: `client_error: ${e?.message ?? String(err)}` };
  }
}

/** What `auth.test` says of a token: whose it is, or why it does not work. */
export type TokenCheck = { ok: true; team: string | null; user: string | null; botId: string | null; appId: string | null } | { ok: false; reason: string };

/** Asks Slack (`auth.test`) who a token belongs to; used by `doctor`. */
export async function authTest(token: string, slack: Pick<SlackConfig, 'apiUrl' | 'requestTimeoutSeconds'>): Promise<TokenCheck> {
  const client = new WebClient(token, {
    slackApiUrl: slack.apiUrl.endsWith('/') ? slack.apiUrl : `${slack.apiUrl}/`,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: slack.requestTimeoutSeconds * 1000,
  });
  try {
    const r = (await client.auth.test()) as { team?: string; user?: string; bot_id?: string; app_id?: string };
    return { ok: true, team: r.team ?? null, user: r.user ?? null, botId: r.bot_id ?? null, appId: r.app_id ?? null };
  } catch (err) {
    const a = classify(err);
    return { ok: false, reason: a.ok ? 'unknown' : a.reason };
  }
}
