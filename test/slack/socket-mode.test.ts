import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { RUN_AGAIN_ACTION } from '../../src/model/slack.js';
import type { Service } from '../../src/service.js';
import { SlackStandin } from '../support/slack-standin.js';
import { SocketStandin } from '../support/socket-standin.js';
import { buildApp, recordingTriage, tempDir, waitFor } from '../support/service.js';
import { CHANNEL, SIGNING_SECRET, blockTexts, commandForm, postSigned, slackTestConfig } from './helpers.js';

/**
 * Slack over Socket Mode, against the Socket Mode stand-in (apps.connections.open + a WebSocket that
 * sends hello, envelopes and disconnects, and records acks) and the Web API stand-in. The engine is the
 * controllable stand-in: these tests are about Slack, not about faults.
 */

const BOSS = 'U0BOSS';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(opts: { slack?: Record<string, unknown>; triageMs?: number } = {}) {
  const standin = await SlackStandin.start();
  const socket = SocketStandin.attach(standin);
  const dir = tempDir('pft-socket-');
  cleanups.push(dir.remove, () => standin.close());
  const config = slackTestConfig(dir.path, standin, {
    slack: { appToken: standin.appToken, signingSecret: undefined, allowedUsers: [BOSS], socketReconnectMaxSeconds: 1, ...opts.slack },
  });
  const engine = recordingTriage({ ms: opts.triageMs ?? 10 });
  const { app, service } = await buildApp(config, { triage: engine.triage });
  cleanups.push(() => app.close());
  await socket.waitForConnections(1);
  // The stand-in has sent hello; the bot counts as connected once it has read it.
  await waitFor('the bot connected', () => service.slackSocket?.connected === true);
  return { standin, socket, app, service, engine, config };
}

const metric = async (app: FastifyInstance, name: string): Promise<number> => {
  const text = (await app.inject({ url: '/metrics' })).body;
  const m = new RegExp(`^${name.replace(/[{}"().]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`metric ${name} not found`);
  return Number(m[1]);
};

const ready = async (app: FastifyInstance) => (await app.inject({ url: '/-/ready' })).statusCode;

/** Waits for the bot's `n`th connection (counted from the first) to be open. */
const nthConnection = (socket: SocketStandin, n: number, timeoutMs = 15_000) =>
  waitFor(`connection ${n} open`, () => socket.connections.length >= n && socket.connections[n - 1]!.closedAt === null && socket.connections[n - 1]!, timeoutMs);

/** Waits until the triage's verdict replaced its start message in the stand-in. */
const verdictPosted = (standin: SlackStandin) => standin.waitFor('the verdict (chat.update)', () => standin.okCalls('chat.update')[0]);

async function triagesOf(service: Service) {
  await service.dispatcher.idle();
  return await service.listTriages({ limit: 50 });
}

describe('Socket Mode: the slash command', () => {
  it('from an allowed user: acked within 3 s with the ephemeral answer, then the start message and its update with the verdict', async () => {
    const { standin, socket, app, service, engine } = await setup();
    expect(await ready(app)).toBe(200);
    expect(await metric(app, 'pagefault_triage_slack_socket_connected')).toBe(1);

    const env = socket.slashCommand({ text: 'node-1', user_id: BOSS, channel_id: CHANNEL });
    const ack = await socket.waitForAck(env.envelope_id);
    expect(ack.afterMs).toBeLessThan(3000);
    expect(ack.payload).toMatchObject({ response_type: 'ephemeral', text: expect.stringContaining('node-1') });

    await verdictPosted(standin);
    const messages = standin.messagesIn(CHANNEL);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.updates).toBe(1);
    expect(blockTexts(messages[0]!.blocks).plain[0]).toContain('no major faults on node-1');
    const [triage] = await triagesOf(service);
    expect(triage).toMatchObject({ node: 'node-1', trigger: { kind: 'slack', user: BOSS, channel: CHANNEL } });
    expect(engine.stats.calls).toHaveLength(1);
    // Every post names its triage in its metadata.
    expect(messages[0]!.metadata).toEqual({ event_type: 'pagefault_triage', event_payload: { triage_id: triage!.id, purpose: 'start' } });
  });

  it('from a user not allowed: acked with a refusal, no triage', async () => {
    const { standin, socket, service, engine } = await setup();
    const env = socket.slashCommand({ text: 'node-1', user_id: 'U0STRANGER', channel_id: CHANNEL });
    const ack = await socket.waitForAck(env.envelope_id);
    expect(ack.payload).toMatchObject({ response_type: 'ephemeral', text: expect.stringMatching(/not allowed|allowedUsers|may not/i) });
    expect(await triagesOf(service)).toEqual([]);
    expect(engine.stats.calls).toEqual([]);
    expect(standin.callsOf('chat.postMessage')).toEqual([]);
  });

  it('the same envelope delivered twice (Slack retrying an ack it did not get): one triage, the same answer twice', async () => {
    const { socket, service, engine } = await setup();
    const fields = { text: 'node-1', user_id: BOSS, channel_id: CHANNEL, trigger_id: '1764500000.trigger.same' };
    socket.slashCommand(fields, { envelopeId: 'env-retried' });
    const first = await socket.waitForAck('env-retried');
    socket.slashCommand(fields, { envelopeId: 'env-retried' });
    await waitFor('the second ack', () => socket.acksOf('env-retried').length === 2);
    expect(socket.acksOf('env-retried')[1]!.payload).toEqual(first.payload);
    expect(await triagesOf(service)).toHaveLength(1);
    expect(engine.stats.calls).toHaveLength(1);
  });

  it('unacked envelopes redelivered by Slack to another connection start nothing twice', async () => {
    // Two replicas of one bot on one store: Slack gives a retry to whichever connection is next.
    const { socket, service, engine, config } = await setup();
    const other = await buildApp(config, { triage: engine.triage });
    cleanups.push(() => other.app.close());
    await socket.waitForConnections(2);
    const [a, b] = socket.openIds();
    const fields = { text: 'node-2', user_id: BOSS, channel_id: CHANNEL, trigger_id: '1764500000.trigger.replicas' };
    socket.slashCommand(fields, { envelopeId: 'env-replicas', to: a });
    await socket.waitForAck('env-replicas');
    socket.slashCommand(fields, { envelopeId: 'env-replicas', to: b });
    await waitFor('the ack from the other connection', () => socket.acksOf('env-replicas').length === 2);
    expect(new Set(socket.acksOf('env-replicas').map((x) => x.connection))).toEqual(new Set([a, b]));
    await other.service.dispatcher.idle();
    expect(await triagesOf(service)).toHaveLength(1);
    expect(engine.stats.calls).toHaveLength(1);
  });

  it('an envelope whose ack takes no payload: the answer goes through its response_url', async () => {
    const { standin, socket } = await setup();
    const responseUrl = standin.responseUrl('no-ack-payload');
    const env = socket.send(
      'slash_commands',
      { command: '/pagefault', text: 'help', user_id: BOSS, channel_id: CHANNEL, response_url: responseUrl, trigger_id: '1764500000.trigger.nopayload' },
      { acceptsResponsePayload: false },
    );
    const ack = await socket.waitForAck(env.envelope_id);
    expect(ack.payload ?? {}).toEqual({});
    const answer = await standin.waitFor('the answer at the response_url', () => standin.responses.find((r) => r.url.endsWith('/no-ack-payload')));
    expect(answer.body).toMatchObject({ response_type: 'ephemeral', text: expect.stringContaining('/pagefault') });
  });

  it('the HTTP Slack routes are off without slack.signingSecret', async () => {
    const { app } = await setup();
    const res = await postSigned(app, '/slack/commands', commandForm('help'));
    expect(res.statusCode).toBe(404);
    expect(res.json().message).toContain('Socket Mode');
  });

  it('with slack.signingSecret as well, the HTTP routes take signed requests next to the socket', async () => {
    const { app } = await setup({ slack: { signingSecret: SIGNING_SECRET } });
    const res = await postSigned(app, '/slack/commands', commandForm('help'));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ response_type: 'ephemeral', text: expect.stringContaining('/pagefault') });
    expect((await postSigned(app, '/slack/commands', commandForm('help'), { secret: 'wrong' })).statusCode).toBe(401);
  });
});

describe('Socket Mode: the buttons', () => {
  it('"Run again" in a triage message: acked, one new triage, posted in the thread', async () => {
    const { standin, socket, service, engine } = await setup();
    socket.slashCommand({ text: 'node-1', user_id: BOSS, channel_id: CHANNEL });
    await verdictPosted(standin);
    const parent = standin.messagesIn(CHANNEL)[0]!;

    const env = socket.blockAction({ actionId: RUN_AGAIN_ACTION, value: JSON.stringify({ node: 'node-1' }), messageTs: parent.ts, channel_id: CHANNEL, user_id: BOSS });
    const ack = await socket.waitForAck(env.envelope_id);
    expect(ack.afterMs).toBeLessThan(3000);
    // A button's ack carries no message: the start message in the thread is the answer.
    expect(ack.payload ?? {}).toEqual({});
    await standin.waitFor('the second verdict', () => standin.okCalls('chat.update')[1]);
    const triages = await triagesOf(service);
    expect(triages).toHaveLength(2);
    expect(triages.filter((t) => t.trigger.kind === 'button')).toMatchObject([{ node: 'node-1', trigger: { kind: 'button', user: BOSS, channel: CHANNEL, threadTs: parent.ts } }]);
    expect(engine.stats.calls).toHaveLength(2);
    const reply = standin.okCalls('chat.postMessage')[1]!;
    expect(reply.args).toMatchObject({ channel: CHANNEL, thread_ts: parent.ts });
  });
});

describe('Socket Mode: the connection survives', () => {
  it('reconnects after disconnect refresh_requested, and the next envelope is handled', async () => {
    const { socket, app, service } = await setup();
    socket.disconnect('refresh_requested');
    await nthConnection(socket, 2);
    expect(socket.connections.length).toBe(2);
    const env = socket.slashCommand({ text: 'node-1', user_id: BOSS, channel_id: CHANNEL });
    await socket.waitForAck(env.envelope_id);
    expect(await triagesOf(service)).toHaveLength(1);
    expect(await metric(app, 'pagefault_triage_slack_socket_connects_total')).toBe(2);
  });

  it('reconnects after disconnect warning at once, and after too_many_websockets only after a backoff', async () => {
    const { socket } = await setup();
    socket.disconnect('warning');
    const second = await nthConnection(socket, 2);
    socket.disconnect('too_many_websockets', second.id);
    const third = await nthConnection(socket, 3);
    // The backoff's first step is 1 s, measured from the close of the connection Slack ended.
    expect(third.openedAt - second.closedAt!).toBeGreaterThanOrEqual(900);
  });

  it('reconnects after the socket is dropped without a word', async () => {
    const { socket, app } = await setup();
    socket.drop();
    await nthConnection(socket, 2, 5000);
    await waitFor('ready again', async () => (await ready(app)) === 200);
    const env = socket.slashCommand({ text: 'help', user_id: BOSS });
    expect((await socket.waitForAck(env.envelope_id)).payload).toMatchObject({ response_type: 'ephemeral' });
  });

  it('reconnects after pongs stop coming (failed pings)', async () => {
    const { socket } = await setup();
    socket.answerPings(false);
    // The client pings every ~1.7 s and gives up on the connection after 5 s without a pong.
    await waitFor('the silent connection closed', () => socket.connections[0]!.closedAt !== null, 15_000);
    socket.answerPings(true);
    await nthConnection(socket, 2, 10_000);
  }, 30_000);

  it('Slack down for 20 s: /-/ready says 503 and the gauge 0 meanwhile; reconnects once it is back', async () => {
    const { socket, app } = await setup();
    socket.down(20);
    await waitFor('the bot to see the connection gone', async () => (await ready(app)) === 503);
    expect((await app.inject({ url: '/-/ready' })).body).toContain('Socket Mode is not connected');
    expect(await metric(app, 'pagefault_triage_slack_socket_connected')).toBe(0);
    const backAt = Date.now() + 20_000;
    await socket.waitForConnections(1, { since: backAt - 100, timeoutMs: 30_000 });
    expect(Date.now()).toBeGreaterThanOrEqual(backAt - 100);
    await waitFor('ready again', async () => (await ready(app)) === 200);
    expect(await metric(app, 'pagefault_triage_slack_socket_connected')).toBe(1);
    const env = socket.slashCommand({ text: 'help', user_id: BOSS });
    await socket.waitForAck(env.envelope_id);
  }, 45_000);
});

describe('never two start messages', () => {
  it('a post Slack accepted but answered after the bot gave up waiting: found by its metadata and adopted, then updated', async () => {
    const { standin, socket, app, service } = await setup({ slack: { requestTimeoutSeconds: 0.5 }, triageMs: 300 });
    standin.failNext(1, { delayMs: 2000 }, 'chat.postMessage');
    socket.slashCommand({ text: 'node-1', user_id: BOSS, channel_id: CHANNEL });
    await verdictPosted(standin);
    const messages = standin.messagesIn(CHANNEL);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.updates).toBe(1);
    expect(standin.callsOf('chat.postMessage')).toHaveLength(1);
    expect(standin.okCalls('conversations.history')[0]!.args).toMatchObject({ channel: CHANNEL, include_all_metadata: 'true' });
    const [triage] = await triagesOf(service);
    expect((await service.store.get(triage!.id))!.slack).toMatchObject({ channel: CHANNEL, ts: messages[0]!.ts });
    expect(await metric(app, 'pagefault_triage_slack_messages_adopted_total')).toBe(1);
  });

  it('in a thread ("Run again"): the late post is found among the thread replies and adopted', async () => {
    const { standin, socket, service } = await setup({ slack: { requestTimeoutSeconds: 0.5 }, triageMs: 300 });
    socket.slashCommand({ text: 'node-1', user_id: BOSS, channel_id: CHANNEL });
    await verdictPosted(standin);
    const parent = standin.messagesIn(CHANNEL)[0]!;
    standin.failNext(1, { delayMs: 2000 }, 'chat.postMessage');
    socket.blockAction({ actionId: RUN_AGAIN_ACTION, value: JSON.stringify({ node: 'node-1' }), messageTs: parent.ts, channel_id: CHANNEL, user_id: BOSS });
    await standin.waitFor('the second verdict', () => standin.okCalls('chat.update')[1]);
    const inThread = standin.messagesIn(CHANNEL).filter((m) => m.threadTs === parent.ts);
    expect(inThread).toHaveLength(1);
    expect(inThread[0]!.updates).toBe(1);
    expect(standin.callsOf('chat.postMessage')).toHaveLength(2);
    expect(standin.okCalls('conversations.replies')[0]!.args).toMatchObject({ channel: CHANNEL, ts: parent.ts, include_all_metadata: 'true' });
    const rerun = (await triagesOf(service)).find((t) => t.trigger.kind === 'button')!;
    expect(inThread[0]!.metadata).toEqual({ event_type: 'pagefault_triage', event_payload: { triage_id: rerun.id, purpose: 'start' } });
  });

  it('a post that timed out without landing is posted after the lookup finds nothing', async () => {
    const { standin, socket } = await setup({ slack: { requestTimeoutSeconds: 0.5 } });
    standin.failNext(1, { hang: true }, 'chat.postMessage');
    socket.slashCommand({ text: 'node-1', user_id: BOSS, channel_id: CHANNEL });
    await verdictPosted(standin);
    expect(standin.messagesIn(CHANNEL)).toHaveLength(1);
    expect(standin.callsOf('conversations.history')).toHaveLength(1);
    expect(standin.okCalls('chat.postMessage')).toHaveLength(1);
  });
});
