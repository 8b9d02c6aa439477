import { LogLevel, SocketModeClient, type Logger } from '@slack/socket-mode';
import type { SlackConfig } from '../../config/schema.js';
import type { Log } from '../../log.js';
import type { IntakeService } from '../intake-service.js';
import { deliveryKey, slackHandlers, type SlackHandlers, type SlackReply, type SlackRoute } from './handlers.js';

/**
 * Socket Mode, the second transport of handlers.ts: the bot opens an outbound WebSocket to Slack
 * (apps.connections.open with the app-level token, then the URL it hands out) and Slack sends the slash
 * command and the button presses down it as envelopes. No inbound endpoint, no signing secret: the
 * connection itself is authenticated by the app token.
 *
 * - Every envelope is acknowledged once handled (the handlers only validate, queue and answer, well within
 *   Slack's 3 s), with the private answer as the ack's payload.
 * - Slack redelivers an envelope whose ack did not arrive, possibly to another replica: an envelope is
 *   handled once per trigger id (else envelope id), recorded in the store, and a repeat is acked with the
 *   first answer.
 * - The connection is kept up here rather than by the client's own reconnect (which gives up for good on
 *   an HTTP error from apps.connections.open): after a `disconnect` message, a dropped socket or failed
 *   pings it reconnects at once, then backs off from 1 s, doubling up to slack.socketReconnectMaxSeconds
 *   (after `too_many_websockets`, or a drop within a second of hello, it backs off at once).
 */

export interface SlackSocket {
  /** True while the connection is up (Slack's hello received). */
  readonly connected: boolean;
  /** Closes the connection and stops reconnecting. */
  close(): Promise<void>;
}

/** A start that neither connects nor fails within this long is abandoned and tried again. */
const START_TIMEOUT_MS = 30_000;
/** A connection dropped sooner than this after hello, without a `disconnect`, counts as a failed attempt. */
const SHORT_LIVED_MS = 1_000;

type SlackRequestEvent = {
  ack: (response?: Record<string, unknown>) => Promise<void>;
  envelope_id: string;
  body: unknown;
  accepts_response_payload?: boolean;
};

/** The client's own log lines go to debug: connection changes are logged here, once each. */
function quietLogger(log: Log): Logger {
  let level = LogLevel.DEBUG;
  const debug = (...msg: unknown[]) => log.debug({ component: 'slack-socket-mode' }, msg.map(String).join(' '));
  return { debug, info: debug, warn: debug, error: debug, setLevel: (l) => void (level = l), getLevel: () => level, setName: () => {} };
}

/** The slash command's fields as the HTTP transport's form would have them. */
function commandFields(body: unknown): URLSearchParams {
  const form = new URLSearchParams();
  if (typeof body === 'object' && body !== null) {
    for (const [k, v] of Object.entries(body)) if (typeof v === 'string') form.set(k, v);
  }
  return form;
}

/** What makes a request one request: Slack's trigger id (the same in a redelivery), else the envelope's. */
/** The ack's payload for an answer: the ephemeral text for a command; nothing otherwise. */
export function ackPayload(reply: SlackReply): Record<string, unknown> | undefined {
  return reply.kind === 'ephemeral' ? { response_type: 'ephemeral', text: reply.text } : undefined;
}

export function reconnectDelayMs(failures: number, maxSeconds: number): number {
  return failures <= 0 ? 0 : Math.min(maxSeconds * 1000, 1000 * 2 ** (failures - 1));
}

export function startSlackSocket(service: IntakeService, slack: SlackConfig & { appToken: string }, log: Log): SlackSocket {
  const { metrics } = service;
  const handlers: SlackHandlers = slackHandlers(service, slack);
  const client = new SocketModeClient({
    appToken: slack.appToken,
    logger: quietLogger(log),
    autoReconnectEnabled: false,
    clientOptions: {
      slackApiUrl: slack.apiUrl.endsWith('/') ? slack.apiUrl : `${slack.apiUrl}/`,
      // The loop below retries; the client's default would retry apps.connections.open 100 times first.
      retryConfig: { retries: 0 },
      timeout: slack.requestTimeoutSeconds * 1000,
    },
  });

  let connected = false;
  let stopped = false;
  let wake: (() => void) | undefined;
  let lastDisconnectReason: string | null = null;

  const handle = async (route: SlackRoute, event: SlackRequestEvent): Promise<void> => {
    const key = deliveryKey(event.body, event.envelope_id) ?? `envelope:${event.envelope_id}`;
    const ctx = { transport: 'socket', route, envelopeId: event.envelope_id };
    let reply: SlackReply;
    let first: boolean;
    try {
      let answer: string | null;
      ({ first, answer } = await service.handleOnce(key, async () =>
        JSON.stringify(route === 'commands' ? await handlers.command(commandFields(event.body), log) : await handlers.interaction(event.body, log)),
      ));
      if (!first) log.info({ ...ctx, key }, 'Slack delivered this request again; answered as the first time, nothing started twice');
      reply = answer === null ? { kind: 'empty' } : (JSON.parse(answer) as SlackReply);
    } catch (err) {
      // Not acknowledged: Slack delivers it again shortly, when the store may take it.
      log.error({ ...ctx, err }, 'Slack request over Socket Mode failed; not acknowledged, Slack will deliver it again');
      return;
    }
    if (reply.kind === 'invalid') log.warn({ ...ctx, reason: reply.message }, 'Slack request over Socket Mode is not valid');
    // An envelope that takes no payload in its ack gets the answer through its response_url instead.
    let payload = ackPayload(reply);
    if (payload && event.accepts_response_payload === false) {
      const url = (event.body as { response_url?: unknown } | null)?.response_url;
      // A repeat's answer went out the first time.
      if (first && reply.kind === 'ephemeral' && typeof url === 'string') service.respond(url, reply.text);
      payload = undefined;
    }
    try {
      await event.ack(payload);
    } catch (err) {
      log.warn({ ...ctx, err: String(err) }, 'Slack: the acknowledgement could not be sent; a redelivery gets the same answer');
    }
  };

  client.on('slash_commands', (e: SlackRequestEvent) => void handle('commands', e));
  client.on('interactive', (e: SlackRequestEvent) => void handle('interactions', e));
  client.on('ws_message', (data: Buffer) => {
    // The client acts on `disconnect` itself; the reason is kept for the log.
    const text = data.toString();
    if (text.includes('"disconnect"')) {
      try {
        const m = JSON.parse(text) as { type?: unknown; reason?: unknown };
        if (m.type === 'disconnect') lastDisconnectReason = typeof m.reason === 'string' ? m.reason : 'unknown';
      } catch {
        // not JSON: the client ignores it too
      }
    }
  });
  client.on('connected', () => {
    connected = true;
    metrics.slackSocketConnected.set(1);
    metrics.slackSocketConnects.inc();
    log.info({ transport: 'socket' }, 'Slack Socket Mode connected');
  });
  /** Why the last connection ended, when Slack said (a `disconnect` message). */
  let endedBecause: string | null = null;
  client.on('disconnected', () => {
    if (connected) {
      log.warn({ transport: 'socket', reason: lastDisconnectReason ?? 'connection lost' }, 'Slack Socket Mode disconnected; reconnecting');
    }
    connected = false;
    endedBecause = lastDisconnectReason;
    lastDisconnectReason = null;
    metrics.slackSocketConnected.set(0);
    wake?.();
  });
  metrics.slackSocketConnected.set(0);

  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  const loop = async (): Promise<void> => {
    let failures = 0;
    while (!stopped) {
      const down = new Promise<void>((resolve) => (wake = resolve));
      let up = false;
      try {
        const timeout = setTimeout(() => void client.disconnect(), START_TIMEOUT_MS);
        try {
          await client.start();
        } finally {
          clearTimeout(timeout);
        }
        up = true;
        failures = 0;
        if (stopped) {
          // close() came while the URL was being fetched.
          await client.disconnect();
          break;
        }
        const since = Date.now();
        await down;
        // Too many connections, or dropped without a word right after hello: coming straight back would only
        // bounce again, so back off as after a failure.
        if (endedBecause === 'too_many_websockets' || (endedBecause === null && Date.now() - since < SHORT_LIVED_MS)) up = false;
      } catch (err) {
        const e = err as { data?: { error?: string }; message?: string } | undefined;
        const reason = e?.data?.error ?? e?.message ?? 'the connection closed before Slack said hello';
        const hint = reason === 'invalid_auth' || reason === 'not_allowed_token_type' || reason === 'not_authed' ? ': slack.appToken must be the app-level token (xapp-…) with connections:write' : '';
        if (failures === 0 || failures % 10 === 0) log.warn({ transport: 'socket', reason, failures: failures + 1 }, `Slack Socket Mode could not connect (${reason})${hint}; trying again`);
      }
      if (stopped) break;
      if (!up) failures++;
      const delay = reconnectDelayMs(failures, slack.socketReconnectMaxSeconds);
      if (delay > 0) await pause(delay);
    }
  };
  const running = loop();

  return {
    get connected() {
      return connected;
    },
    async close() {
      stopped = true;
      wake?.();
      // A close frame Slack never answers would hold the shutdown for ws's 30 s: 2 s is enough to say goodbye.
      await Promise.race([client.disconnect().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
      await Promise.race([running, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
      metrics.slackSocketConnected.set(0);
    },
  };
}
