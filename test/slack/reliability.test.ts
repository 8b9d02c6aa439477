import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import type { Service, ServiceDeps } from '../../src/service.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { SlackStandin } from '../support/slack-standin.js';
import { buildApp, recordingTriage, tempDir, waitFor, webhook } from '../support/service.js';
import { CHANNEL, blockTexts, slackTestConfig } from './helpers.js';

/**
 * No lost Slack messages: every call goes through the outbox in the store, so outages, rate limits
 * and restarts delay a message but never lose or repeat it; permanent errors are reported, not retried.
 * Backoffs here are 50 ms doubling to 200 ms (slack.retry in slackTestConfig).
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(opts: { slack?: Record<string, unknown>; deps?: ServiceDeps } = {}) {
  const standin = await SlackStandin.start();
  const dir = tempDir('pft-slack-rel-');
  cleanups.push(dir.remove, () => standin.close());
  const config = slackTestConfig(dir.path, standin, { slack: opts.slack ?? {} });
  const start = async (deps: ServiceDeps = opts.deps ?? { triage: recordingTriage().triage }) => {
    const built = await buildApp(config, deps);
    let closed = false;
    cleanups.push(() => (closed ? undefined : built.app.close()));
    return { ...built, close: async () => ((closed = true), built.app.close()) };
  };
  return { standin, config, start };
}

async function alert(app: FastifyInstance, service: Service): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/alerts', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(webhook([{ labels: { instance: 'node-1:9100' } }])) });
  expect(res.statusCode).toBe(202);
  const id = res.json().triages[0].id as string;
  await service.dispatcher.idle();
  return id;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, checked by the assertions
const getTriage = async (app: FastifyInstance, id: string): Promise<any> => (await app.inject({ url: `/triages/${id}` })).json();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The outbox marks a call sent just after Slack answered it. */
const sent = (app: FastifyInstance, id: string) =>
  waitFor('the triage marked sent', async () => {
    const t = await getTriage(app, id);
    return t.notify?.slack.state === 'sent' ? t.notify : undefined;
  });

const metric = async (app: FastifyInstance, line: string): Promise<number> => {
  const text = (await app.inject({ url: '/metrics' })).body;
  const m = new RegExp(`^${line.replace(/[{}"().]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`metric line ${line} not found`);
  return Number(m[1]);
};

describe('Slack down, then back', () => {
  it('retries 500s with backoff; once Slack is back the verdict arrives once', async () => {
    const { standin, start } = await setup();
    const { app, service } = await start();
    standin.down({ status: 500 });
    const id = await alert(app, service);
    await standin.waitFor('a few failed attempts', () => standin.calls.length >= 4);
    const pending = await getTriage(app, id);
    expect(pending.status).toBe('done');
    expect(pending.notify).toEqual({ slack: { state: 'pending', error: 'http_500' } });
    // Only the start message is tried while it fails: the verdict waits for its turn.
    expect(new Set(standin.calls.map((c) => c.method))).toEqual(new Set(['chat.postMessage']));
    // Exponential backoff: at least 50, 100, then 200 ms between attempts.
    const gaps = standin.calls.slice(0, 4).map((c, i, a) => (i === 0 ? 0 : c.at - a[i - 1]!.at)).slice(1);
    expect(gaps[0]).toBeGreaterThanOrEqual(45);
    expect(gaps[1]).toBeGreaterThanOrEqual(95);
    expect(gaps[2]).toBeGreaterThanOrEqual(190);

    standin.up();
    await standin.waitFor('the verdict', () => standin.okCalls('chat.update')[0]);
    await sleep(400);
    expect(standin.okCalls('chat.postMessage')).toHaveLength(1);
    expect(standin.okCalls('chat.update')).toHaveLength(1);
    expect([...standin.messages.values()]).toMatchObject([{ channel: CHANNEL, updates: 1 }]);
    expect(await sent(app, id)).toEqual({ slack: { state: 'sent', error: null } });
    expect(await metric(app, 'pagefault_triage_slack_calls_total{method="chat.postMessage",outcome="server_error"}')).toBeGreaterThanOrEqual(3);
    expect(await metric(app, 'pagefault_triage_slack_outbox_pending')).toBe(0);
  });

  it('on a 429 with Retry-After: 2, waits at least 2 s before calling Slack again', async () => {
    const { standin, start } = await setup();
    const { app, service } = await start();
    standin.failNext(1, { status: 429, retryAfter: 2 });
    const id = await alert(app, service);
    await standin.waitFor('the verdict', () => standin.okCalls('chat.update')[0], 10_000);
    const [limited, next] = standin.calls;
    expect(limited!.status).toBe(429);
    expect(next!.at - limited!.at).toBeGreaterThanOrEqual(2000);
    expect(standin.okCalls()).toHaveLength(2);
    await sent(app, id);
    expect(await metric(app, 'pagefault_triage_slack_calls_total{method="chat.postMessage",outcome="rate_limited"}')).toBe(1);
  });

  it('treats a network error like a 5xx (a call that times out is tried again)', async () => {
    const { standin, start } = await setup({ slack: { requestTimeoutSeconds: 0.3 } });
    const { app, service } = await start();
    standin.failNext(1, { hang: true });
    const id = await alert(app, service);
    await standin.waitFor('the verdict', () => standin.okCalls('chat.update')[0]);
    expect(standin.calls[0]!.status).toBe(200); // it never answered
    await sent(app, id);
    expect(await metric(app, 'pagefault_triage_slack_calls_total{method="chat.postMessage",outcome="network_error"}')).toBe(1);
  });
});

describe('permanent Slack errors', () => {
  it('ok:false channel_not_found is shown on the triage, logged, and never retried', async () => {
    const { standin, start } = await setup({ slack: { channel: 'C0GONE' } });
    standin.missingChannel('C0GONE');
    const { app, service } = await start();
    const id = await alert(app, service);
    const triage = await waitFor('the failure on the triage', async () => {
      const t = await getTriage(app, id);
      return t.notify?.slack.state === 'failed' && standin.calls.length === 2 ? t : undefined;
    });
    expect(triage.notify).toEqual({ slack: { state: 'failed', error: 'channel_not_found' } });
    // The start message and the verdict each tried once, then never again (20 backoff periods later).
    await sleep(1000);
    expect(standin.calls.map((c) => [c.method, (c.response as { error?: string }).error])).toEqual([
      ['chat.postMessage', 'channel_not_found'],
      ['chat.postMessage', 'channel_not_found'],
    ]);
    expect((await service.store.outbox.forTriage(id)).map((r) => [r.purpose, r.state, r.lastError])).toEqual([
      ['start', 'failed', 'channel_not_found'],
      ['verdict', 'failed', 'channel_not_found'],
    ]);
    expect(await metric(app, 'pagefault_triage_slack_calls_total{method="chat.postMessage",outcome="platform_error"}')).toBe(2);
    expect(await metric(app, 'pagefault_triage_slack_outbox_pending')).toBe(0);
  });

  it('posts the verdict as a new message when the start message was deleted meanwhile', async () => {
    const triage = recordingTriage({ manual: true });
    const { standin, start } = await setup({ deps: { triage: triage.triage } });
    const { app, service } = await start();
    const res = await app.inject({ method: 'POST', url: '/alerts', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(webhook([{ labels: { instance: 'node-1:9100' } }])) });
    const id = res.json().triages[0].id as string;
    await standin.waitFor('the start message', () => standin.okCalls('chat.postMessage')[0]);
    standin.messages.clear(); // someone deleted it
    await waitFor('the triage running', () => triage.running === 1);
    triage.release();
    await service.dispatcher.idle();
    const second = await standin.waitFor('the verdict as a new post', () => standin.okCalls('chat.postMessage')[1]);
    expect(standin.callsOf('chat.update').map((c) => (c.response as { error?: string }).error)).toEqual(['message_not_found']);
    expect(second.args.channel).toBe(CHANNEL);
    expect(blockTexts(second.args.blocks as unknown[]).plain[0]).toContain('no major faults on node-1');
    await sent(app, id);
    expect((await service.store.get(id))!.slack!.ts).toBe((second.response as { ts: string }).ts);
  });
});

describe('restarts', () => {
  it('delivers what was pending when the bot stopped, after it starts again on the same store', async () => {
    const { standin, start, config } = await setup();
    const first = await start();
    standin.down({ status: 503 });
    const id = await alert(first.app, first.service);
    await standin.waitFor('failed attempts', () => standin.calls.length >= 2);
    await first.close();
    const callsWhileDown = standin.calls.length;

    // Nothing is lost: both messages wait in the store.
    const store = SqliteStore.open(config.storage.path);
    expect((await store.outbox.forTriage(id)).map((r) => [r.purpose, r.state])).toEqual([
      ['start', 'pending'],
      ['verdict', 'pending'],
    ]);
    await store.close();

    standin.up();
    const second = await start();
    await standin.waitFor('the verdict after the restart', () => standin.okCalls('chat.update')[0]);
    await sleep(300);
    expect(standin.calls.length).toBe(callsWhileDown + 2);
    expect(standin.okCalls('chat.postMessage')).toHaveLength(1);
    expect(standin.okCalls('chat.update')).toHaveLength(1);
    expect(blockTexts(standin.okCalls('chat.update')[0]!.args.blocks as unknown[]).plain[0]).toContain('no major faults on node-1');
    expect(await sent(second.app, id)).toEqual({ slack: { state: 'sent', error: null } });
  });

  it('replaces the "started" message of a triage the shutdown interrupted, once the bot is back', async () => {
    const triage = recordingTriage({ manual: true });
    const { standin, start } = await setup({ deps: { triage: triage.triage } });
    const first = await start();
    const res = await first.app.inject({ method: 'POST', url: '/alerts', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(webhook([{ labels: { instance: 'node-1:9100' } }])) });
    const id = res.json().triages[0].id as string;
    const post = await standin.waitFor('the start message', () => standin.okCalls('chat.postMessage')[0]);
    await waitFor('the triage running', () => triage.running === 1);
    await first.service.close(0);
    await first.close();
    expect(standin.callsOf('chat.update')).toEqual([]);

    const second = await start({ triage: recordingTriage().triage });
    const update = await standin.waitFor('the interrupted verdict', () => standin.okCalls('chat.update')[0]);
    expect(update.args.ts).toBe((post.response as { ts: string }).ts);
    expect(blockTexts(update.args.blocks as unknown[]).plain[0]).toMatch(/^:x: node-1 — interrupted: the bot shut down while this triage was running/);
    await sent(second.app, id);
  });
});
