import { afterEach, describe, expect, it } from 'vitest';
import { startBot, type BotProcess } from '../support/bot-process.js';
import { tempDir, waitFor, webhook } from '../support/service.js';
import { SlackStandin } from '../support/slack-standin.js';

/**
 * A real bot process SIGKILLed right after its start message reached Slack, before it saw the answer:
 * the next process finds that message by its metadata, adopts it, and updates it with the verdict of the
 * triage it ran again. Exactly one start message in the channel. The dead process's claim on the outbox row
 * (30 s) and its lease on the triage (15 s) run out first: that is what the next process waits for.
 */

const TOKEN = 'test-token-0123456789abcdef';
const CHANNEL = 'C0ALERTS';
const bots: BotProcess[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const b of bots.splice(0)) if (b.child.exitCode === null && b.child.signalCode === null) b.child.kill('SIGKILL');
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('a bot killed right after its post', () => {
  it('posts no second start message after the restart: the first is adopted and gets the verdict', async () => {
    const standin = await SlackStandin.start();
    const dir = tempDir('pft-crash-post-');
    cleanups.push(dir.remove, () => standin.close());
    const config = {
      server: { host: '127.0.0.1', port: 0, webhookToken: TOKEN },
      storage: { path: dir.path },
      slack: { token: standin.token, signingSecret: '5f2b0c9e7a41d38e6b0f9c2a1d4e7b30', channel: CHANNEL, apiUrl: standin.apiUrl, retry: { initialSeconds: 0.05, maxSeconds: 0.2 } },
      nodes: [{ name: 'node-1', local: true }],
    };
    // The post lands at once; its answer would come only after a minute.
    standin.failNext(1, { delayMs: 60_000 }, 'chat.postMessage');
    const first = await startBot(config, { '*': 120_000 });
    bots.push(first);
    const res = await fetch(`${first.url}/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(webhook([{ labels: { instance: 'node-1:9100' } }])),
    });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as { triages: { id: string }[] }).triages[0]!.id;
    await standin.waitFor('the start message in the channel', () => standin.messagesIn(CHANNEL)[0]);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    expect(standin.messagesIn(CHANNEL)[0]!.metadata).toEqual({ event_type: 'pagefault_triage', event_payload: { triage_id: id, purpose: 'start' } });

    const second = await startBot(config, { '*': 100 });
    bots.push(second);
    await standin.waitFor('the verdict replacing the start message', () => standin.okCalls('chat.update')[0], 50_000);
    const messages = standin.messagesIn(CHANNEL);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.updates).toBe(1);
    expect(standin.callsOf('chat.postMessage')).toHaveLength(1);
    expect(standin.okCalls('chat.update')[0]!.args).toMatchObject({ channel: CHANNEL, ts: messages[0]!.ts });
    expect(standin.okCalls('conversations.history')).toHaveLength(1);
    const triage = await waitFor('the triage marked sent', async () => {
      const t = (await (await fetch(`${second.url}/triages/${id}`)).json()) as { status: string; notify: { slack: { state: string } } | null };
      return t.notify?.slack.state === 'sent' ? t : undefined;
    });
    expect(triage.status).toBe('done'); // run again once the dead process's lease ran out
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 90_000);
});
