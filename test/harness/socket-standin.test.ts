// The Socket Mode stand-in is only useful if Slack's own client accepts it as Slack: drive the official
// SocketModeClient (default reconnect and ping settings) and WebClient against it. Reconnect times are
// printed, not asserted tightly: they are the client's backoff, measured here for the record.
import { LogLevel, SocketModeClient, type Logger } from '@slack/socket-mode';
import { ErrorCode, WebClient, retryPolicies } from '@slack/web-api';
import { afterEach, describe, expect, it } from 'vitest';
import { SlackStandin } from '../support/slack-standin.js';
import { SocketStandin } from '../support/socket-standin.js';

const CHANNEL = 'C0TRIAGE';

/** A logger that keeps what the client says, to explain a failure instead of printing it. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (level: string) => (...msg: unknown[]) => void lines.push(`${new Date().toISOString()} ${level} ${msg.map(String).join(' ')}`);
  return { lines, debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error'), setLevel: () => undefined, getLevel: () => LogLevel.DEBUG, setName: () => undefined };
}

interface Harness {
  slack: SlackStandin;
  socket: SocketStandin;
  client: SocketModeClient;
  events: { name: string; at: number }[];
  logger: ReturnType<typeof recordingLogger>;
}

let current: Harness | null = null;

async function connect(opts: { retryUnacked?: boolean; serverPingMs?: number; serverPingTimeout?: number } = {}): Promise<Harness> {
  const slack = await SlackStandin.start();
  const socket = SocketStandin.attach(slack, { retryUnacked: opts.retryUnacked ?? false, serverPingMs: opts.serverPingMs ?? 0 });
  const logger = recordingLogger();
  const client = new SocketModeClient({
    appToken: slack.appToken,
    logger,
    clientOptions: { slackApiUrl: slack.apiUrl },
    ...(opts.serverPingTimeout ? { serverPingTimeout: opts.serverPingTimeout } : {}),
  });
  const events: { name: string; at: number }[] = [];
  for (const name of ['connecting', 'authenticated', 'connected', 'reconnecting', 'disconnecting', 'disconnected']) {
    client.on(name, () => events.push({ name, at: Date.now() }));
  }
  current = { slack, socket, client, events, logger };
  await client.start();
  return current;
}

/** Waits for a `connected` event after `since` and returns how long after `since` it came. */
async function reconnected(h: Harness, since: number, timeoutMs = 60_000): Promise<number> {
  const e = await h.slack.waitFor('the client to reconnect', () => h.events.find((x) => x.name === 'connected' && x.at > since), timeoutMs);
  await h.socket.waitForConnections(1, { since });
  return e.at - since;
}

/** The next `slash_commands` envelope the client emits, acked with `answer`. */
function nextSlashCommand(client: SocketModeClient, answer: Record<string, unknown>): Promise<{ body: Record<string, unknown>; envelope_id: string }> {
  return new Promise((resolve) => {
    client.once('slash_commands', async ({ ack, body, envelope_id }: { ack: (r?: Record<string, unknown>) => Promise<void>; body: Record<string, unknown>; envelope_id: string }) => {
      await ack(answer);
      resolve({ body, envelope_id });
    });
  });
}

afterEach(async () => {
  if (!current) return;
  const h = current;
  current = null;
  await h.client.disconnect();
  await h.slack.close();
});

describe('Socket Mode stand-in with @slack/socket-mode', () => {
  it('apps.connections.open takes only the app token; auth.test knows both tokens', async () => {
    const slack = await SlackStandin.start();
    const socket = SocketStandin.attach(slack);
    try {
      const asApp = new WebClient(slack.appToken, { slackApiUrl: slack.apiUrl, retryConfig: retryPolicies.rapidRetryPolicy });
      const open = await asApp.apps.connections.open({});
      expect(open.url).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:\\d+/link/\\?ticket=[0-9a-f-]{36}&app_id=A0STANDINAPP$`));
      expect(await asApp.auth.test()).toMatchObject({ ok: true, app_id: 'A0STANDINAPP', team_id: 'T0STANDIN' });

      const asBot = new WebClient(slack.token, { slackApiUrl: slack.apiUrl, retryConfig: retryPolicies.rapidRetryPolicy });
      await expect(asBot.apps.connections.open({})).rejects.toMatchObject({ code: ErrorCode.PlatformError, data: { error: 'not_allowed_token_type' } });
      expect(await asBot.auth.test()).toMatchObject({ ok: true, user_id: 'U0STANDINBOT', bot_id: 'B0STANDINBOT' });

      const stranger = new WebClient('xapp-1-wrong', { slackApiUrl: slack.apiUrl, retryConfig: retryPolicies.rapidRetryPolicy });
      await expect(stranger.apps.connections.open({})).rejects.toMatchObject({ data: { error: 'invalid_auth' } });
      await expect(stranger.auth.test()).rejects.toMatchObject({ data: { error: 'invalid_auth' } });

      // A ticket opens one socket, once; an invented one none.
      const { WebSocket } = await import('ws');
      const refused = (url: string): Promise<string> =>
        new Promise((resolve) => {
          const ws = new WebSocket(url);
          ws.on('unexpected-response', (_req, res) => resolve(String(res.statusCode)));
          ws.on('open', () => resolve('open'));
        });
      expect(await refused(open.url!.replace(/ticket=[^&]+/, 'ticket=made-up'))).toBe('401');
      expect(socket.openConnections).toBe(0);
    } finally {
      await slack.close();
    }
  });

  it('connects, says hello, delivers a slash command and records its ack with the payload', async () => {
    const h = await connect();
    // apps.connections.open ('authenticated') comes before the socket ('connecting'), then hello ('connected').
    expect(h.events.map((e) => e.name)).toEqual(['authenticated', 'connecting', 'connected']);
    expect(h.socket.openConnections).toBe(1);
    expect(h.slack.callsOf('apps.connections.open')).toHaveLength(1);

    const answer = { response_type: 'ephemeral', text: 'Triage of local queued.' };
    const received = nextSlashCommand(h.client, answer);
    const envelope = h.socket.slashCommand({ text: 'local' });
    const { body, envelope_id } = await received;
    expect(envelope_id).toBe(envelope.envelope_id);
    expect(body).toMatchObject({ command: '/pagefault', text: 'local', user_id: 'U0BOSS', channel_id: CHANNEL });
    expect(body.response_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/respond\//);
    const ack = await h.socket.waitForAck(envelope.envelope_id);
    expect(ack).toMatchObject({ payload: answer, connection: 1 });
    expect(ack.afterMs).toBeLessThan(3000);
  });

  it('delivers a block_actions interaction with what a button handler reads', async () => {
    const h = await connect();
    const got = new Promise<{ body: Record<string, unknown>; accepts_response_payload: boolean }>((resolve) => {
      h.client.once('interactive', async ({ ack, body, accepts_response_payload }: { ack: () => Promise<void>; body: Record<string, unknown>; accepts_response_payload: boolean }) => {
        await ack();
        resolve({ body, accepts_response_payload });
      });
    });
    const envelope = h.socket.blockAction({ actionId: 'run_again', value: '{"node":"local"}', messageTs: '1764500000.000001' });
    const { body, accepts_response_payload } = await got;
    expect(accepts_response_payload).toBe(false);
    expect(body).toMatchObject({ type: 'block_actions', user: { id: 'U0BOSS' }, channel: { id: CHANNEL }, message: { ts: '1764500000.000001' }, actions: [{ action_id: 'run_again', value: '{"node":"local"}' }] });
    expect((await h.socket.waitForAck(envelope.envelope_id)).payload).toEqual({});
  });

  it('reconnects on every disconnect reason, and the next envelope arrives on the new connection', async () => {
    const h = await connect();
    for (const reason of ['refresh_requested', 'warning', 'too_many_websockets'] as const) {
      const before = h.socket.openIds();
      const t0 = Date.now();
      h.socket.disconnect(reason);
      const ms = await reconnected(h, t0);
      console.log(`socket-mode: reconnected ${ms} ms after disconnect/${reason}`);
      expect(h.socket.openIds()).not.toEqual(before);
      expect(h.socket.openConnections).toBe(1);
      const received = nextSlashCommand(h.client, {});
      const envelope = h.socket.slashCommand({ text: `after ${reason}` });
      expect((await received).body.text).toBe(`after ${reason}`);
      expect((await h.socket.waitForAck(envelope.envelope_id)).connection).toBe(h.socket.openIds()[0]);
    }
  });

  it('reconnects after a socket dropped without a close frame', async () => {
    const h = await connect();
    const t0 = Date.now();
    h.socket.drop();
    const ms = await reconnected(h, t0);
    console.log(`socket-mode: reconnected ${ms} ms after a dropped socket`);
    expect(h.socket.connections.map((c) => c.closedAt === null)).toEqual([false, true]);
  });

  it('notices pongs that stop coming, drops the connection and reconnects once they answer again', async () => {
    const h = await connect();
    await h.slack.waitFor('the client to ping', () => h.socket.connections[0]!.pings >= 2);
    const t0 = Date.now();
    h.socket.answerPings(false);
    await h.slack.waitFor('the client to give up on the silent connection', () => h.socket.connections[0]!.closedAt ?? undefined, 30_000);
    console.log(`socket-mode: closed the connection ${h.socket.connections[0]!.closedAt! - t0} ms after pongs stopped`);
    h.socket.answerPings(true);
    const ms = await reconnected(h, t0);
    console.log(`socket-mode: reconnected ${ms} ms after pongs stopped`);
  });

  it("drops a connection whose server stops pinging, after the client's serverPingTimeout", async () => {
    const h = await connect({ serverPingMs: 300, serverPingTimeout: 1500 });
    await h.slack.waitFor('a few server pings', () => h.socket.connections[0]!.serverPings >= 3);
    const t0 = Date.now();
    h.socket.answerPings(false);
    await h.slack.waitFor('the client to give up on the silent server', () => h.socket.connections[0]!.closedAt ?? undefined, 10_000);
    const closedAfter = h.socket.connections[0]!.closedAt! - t0;
    console.log(`socket-mode: closed the connection ${closedAfter} ms after server pings stopped (serverPingTimeout 1500 ms)`);
    expect(h.logger.lines.some((l) => l.includes("A ping wasn't received from the server before the timeout of 1500ms"))).toBe(true);
    h.socket.answerPings(true);
    await reconnected(h, t0);
  });

  it('gives each envelope to one of several connections, in turn', async () => {
    const h = await connect();
    const second = new SocketModeClient({ appToken: h.slack.appToken, logger: recordingLogger(), clientOptions: { slackApiUrl: h.slack.apiUrl } });
    try {
      await second.start();
      expect(h.socket.openConnections).toBe(2);
      const got: string[] = [];
      for (const [name, c] of [['first', h.client], ['second', second]] as const) {
        c.on('slash_commands', async ({ ack, body }: { ack: () => Promise<void>; body: { text: string } }) => {
          got.push(`${name}:${body.text}`);
          await ack();
        });
      }
      const sent = [1, 2, 3, 4].map((i) => h.socket.slashCommand({ text: `c${i}` }));
      await Promise.all(sent.map((e) => h.socket.waitForAck(e.envelope_id)));
      expect(got.sort()).toEqual(['first:c1', 'first:c3', 'second:c2', 'second:c4']);
    } finally {
      await second.disconnect();
    }
  });

  it('rides out a 20 s outage and reconnects after it', async () => {
    const h = await connect();
    const t0 = Date.now();
    h.socket.down(20);
    const ms = await reconnected(h, t0, 90_000);
    console.log(`socket-mode: reconnected ${ms} ms after a 20 s outage began (${ms - 20_000} ms after it ended)`);
    expect(ms).toBeGreaterThanOrEqual(20_000);
    const refused = h.slack.calls.filter((c) => c.method === 'apps.connections.open' && c.status === 503);
    expect(refused.length).toBeGreaterThan(0);
    console.log(`socket-mode: apps.connections.open tried at +${refused.map((c) => c.at - t0).join(', +')} ms during the outage`);
    const received = nextSlashCommand(h.client, {});
    h.socket.slashCommand({ text: 'after the outage' });
    expect((await received).body.text).toBe('after the outage');
  });

  it('redelivers an envelope not acked within 3 s with retry_attempt and retry_reason, when asked to', async () => {
    const h = await connect({ retryUnacked: true });
    const seen: { retry_num: number; retry_reason: string; envelope_id: string; at: number }[] = [];
    h.client.on('slack_event', async ({ ack, retry_num, retry_reason, envelope_id }: { ack: () => Promise<void>; retry_num: number; retry_reason: string; envelope_id: string }) => {
      seen.push({ retry_num, retry_reason, envelope_id, at: Date.now() });
      if (retry_num > 0) await ack(); // the first delivery goes unanswered
    });
    const envelope = h.socket.slashCommand({ text: 'local' });
    const ack = await h.socket.waitForAck(envelope.envelope_id, 15_000);
    expect(seen.map((s) => [s.envelope_id, s.retry_num, s.retry_reason])).toEqual([
      [envelope.envelope_id, 0, ''],
      [envelope.envelope_id, 1, 'timeout'],
    ]);
    expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(2900);
    expect(h.socket.deliveries).toHaveLength(2);
    expect(ack.payload).toEqual({});
  });
});

describe('Web API additions', () => {
  let slack: SlackStandin;
  afterEach(async () => {
    await slack?.close();
  });

  it('keeps chat.postMessage metadata and returns it from conversations.history only with include_all_metadata', async () => {
    slack = await SlackStandin.start();
    const web = new WebClient(slack.token, { slackApiUrl: slack.apiUrl, retryConfig: retryPolicies.rapidRetryPolicy });
    const before = `${Math.floor(Date.now() / 1000) - 1}`;
    const metadata = { event_type: 'pagefault_triage', event_payload: { triage_id: 'b1ljfqrBIqCZTI-i5yk14Q', kind: 'start' } };
    const parent = await web.chat.postMessage({ channel: CHANNEL, text: 'Triage of local started', metadata });
    await web.chat.postMessage({ channel: CHANNEL, text: 'a reply', thread_ts: parent.ts!, metadata: { event_type: 'pagefault_triage', event_payload: { triage_id: 'x', kind: 'update' } } });
    await web.chat.postMessage({ channel: 'C0OTHER', text: 'elsewhere' });
    expect(parent.ts).toMatch(/^\d{10}\.\d{6}$/);

    const withMeta = await web.conversations.history({ channel: CHANNEL, oldest: before, limit: 10, include_all_metadata: true });
    expect(withMeta.messages).toHaveLength(1); // the reply lives in the thread, not in the channel's history
    expect(withMeta.messages![0]).toMatchObject({ ts: parent.ts, text: 'Triage of local started', metadata, reply_count: 1, thread_ts: parent.ts, bot_id: 'B0STANDINBOT' });

    const plain = await web.conversations.history({ channel: CHANNEL, oldest: before, limit: 10 });
    expect(plain.messages![0]).not.toHaveProperty('metadata');

    expect((await web.conversations.history({ channel: CHANNEL, oldest: parent.ts!, include_all_metadata: true })).messages).toEqual([]);
    expect((await web.conversations.history({ channel: CHANNEL, oldest: parent.ts!, inclusive: true })).messages).toHaveLength(1);

    const replies = await web.conversations.replies({ channel: CHANNEL, ts: parent.ts!, include_all_metadata: true });
    expect(replies.messages!.map((m) => [m.text, (m.metadata as { event_payload?: { kind?: string } } | undefined)?.event_payload?.kind])).toEqual([
      ['Triage of local started', 'start'],
      ['a reply', 'update'],
    ]);
  });

  it('conversations.history pages newest first with limit and has_more', async () => {
    slack = await SlackStandin.start();
    const web = new WebClient(slack.token, { slackApiUrl: slack.apiUrl, retryConfig: retryPolicies.rapidRetryPolicy });
    for (let i = 1; i <= 3; i++) await web.chat.postMessage({ channel: CHANNEL, text: `m${i}` });
    const page = await web.conversations.history({ channel: CHANNEL, limit: 2 });
    expect(page.messages!.map((m) => m.text)).toEqual(['m3', 'm2']);
    expect(page.has_more).toBe(true);
  });

  it('a delayed answer: chat.postMessage takes effect at once but answers after the client gave up', async () => {
    slack = await SlackStandin.start();
    slack.failNext(1, { delayMs: 1500 }, 'chat.postMessage');
    const web = new WebClient(slack.token, { slackApiUrl: slack.apiUrl, timeout: 300, retryConfig: { retries: 0 }, logLevel: LogLevel.ERROR });
    const t0 = Date.now();
    await expect(web.chat.postMessage({ channel: CHANNEL, text: 'started', metadata: { event_type: 'pagefault_triage', event_payload: { triage_id: 't1' } } })).rejects.toMatchObject({ code: ErrorCode.RequestError });
    expect(Date.now() - t0).toBeLessThan(1500);
    // The message is in the channel all the same: a re-post must look for it first.
    const found = await web.conversations.history({ channel: CHANNEL, limit: 20, include_all_metadata: true });
    expect(found.messages).toHaveLength(1);
    expect(found.messages![0]!.metadata).toEqual({ event_type: 'pagefault_triage', event_payload: { triage_id: 't1' } });
    // Only the targeted method was slowed.
    const again = await web.chat.postMessage({ channel: CHANNEL, text: 'second' });
    expect(again.ok).toBe(true);
  });
});
