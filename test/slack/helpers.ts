import type { FastifyInstance } from 'fastify';
import { slackSchema, type Config } from '../../src/config/schema.js';
import { createHmac } from 'node:crypto';
import type { SlackStandin } from '../support/slack-standin.js';
import { testConfig } from '../support/service.js';

/** The signature Slack would send. */
export function signSlackRequest(signingSecret: string, timestampSeconds: number, rawBody: Buffer | string): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestampSeconds}:`).update(rawBody).digest('hex')}`;
}

export const SIGNING_SECRET = '5f2b0c9e7a41d38e6b0f9c2a1d4e7b30';
export const CHANNEL = 'C0ALERTS';

/** A test config with Slack pointed at the stand-in, and backoffs short enough for tests. */
export function slackTestConfig(
  storagePath: string,
  standin: SlackStandin,
  over: { slack?: Record<string, unknown>; base?: Parameters<typeof testConfig>[1] } = {},
): Config {
  const base = testConfig(storagePath, over.base);
  return {
    ...base,
    slack: slackSchema.parse({
      token: standin.token,
      signingSecret: SIGNING_SECRET,
      channel: CHANNEL,
      apiUrl: standin.apiUrl,
      requestTimeoutSeconds: 2,
      retry: { initialSeconds: 0.05, maxSeconds: 0.2 },
      ...over.slack,
    }),
  };
}

export interface SignedOptions {
  /** Seconds since the epoch put in X-Slack-Request-Timestamp (default now). */
  timestamp?: number;
  secret?: string;
  signature?: string;
}

/** POSTs a form body the way Slack does, signed with the signing secret. */
export function postSigned(app: FastifyInstance, url: string, form: Record<string, string>, opts: SignedOptions = {}) {
  const body = new URLSearchParams(form).toString();
  const ts = opts.timestamp ?? Math.floor(Date.now() / 1000);
  return app.inject({
    method: 'POST',
    url,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(ts),
      'x-slack-signature': opts.signature ?? signSlackRequest(opts.secret ?? SIGNING_SECRET, ts, body),
    },
    payload: body,
  });
}

/** Slack gives every command and every click its own trigger id (a repeat of one request keeps it). */
let triggers = 0;
const nextTriggerId = () => `${Date.now()}.${process.pid}.${++triggers}`;

/** The form Slack sends for `/pagefault TEXT`. */
export function commandForm(text: string, over: Record<string, string> = {}): Record<string, string> {
  return {
    token: 'deprecated-verification-token',
    team_id: 'T0TEAM',
    team_domain: 'example',
    channel_id: 'C0ONCALL',
    channel_name: 'oncall',
    user_id: 'U0ALICE',
    user_name: 'alice',
    command: '/pagefault',
    text,
    api_app_id: 'A0APP',
    response_url: 'https://hooks.slack.com/commands/T0TEAM/1/abc',
    trigger_id: nextTriggerId(),
    ...over,
  };
}

/** The form Slack sends when a button of a message is pressed. */
export function buttonForm(opts: { value: string; user?: string; channel?: string; ts: string; threadTs?: string; responseUrl: string; actionId?: string }) {
  const payload = {
    type: 'block_actions',
    user: { id: opts.user ?? 'U0ALICE', username: 'alice', team_id: 'T0TEAM' },
    api_app_id: 'A0APP',
    container: { type: 'message', message_ts: opts.ts, channel_id: opts.channel ?? CHANNEL, is_ephemeral: false },
    trigger_id: nextTriggerId(),
    team: { id: 'T0TEAM', domain: 'example' },
    channel: { id: opts.channel ?? CHANNEL, name: 'alerts' },
    message: { type: 'message', ts: opts.ts, ...(opts.threadTs ? { thread_ts: opts.threadTs } : {}), text: 'verdict', blocks: [] },
    response_url: opts.responseUrl,
    actions: [{ action_id: opts.actionId ?? 'run_again', block_id: 'verdict-x', type: 'button', value: opts.value, action_ts: '1764212999.000001' }],
  };
  return { payload: JSON.stringify(payload) };
}

/** Every text of a message's blocks, by kind, for assertions. */
export function blockTexts(blocks: unknown[]): { mrkdwn: string[]; plain: string[] } {
  const out = { mrkdwn: [] as string[], plain: [] as string[] };
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if ((o.type === 'mrkdwn' || o.type === 'plain_text') && typeof o.text === 'string') (o.type === 'mrkdwn' ? out.mrkdwn : out.plain).push(o.text);
      else Object.values(o).forEach(visit);
    }
  };
  visit(blocks);
  return out;
}
