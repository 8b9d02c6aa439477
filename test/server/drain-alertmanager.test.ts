import { afterEach, describe, expect, it } from 'vitest';
import { freePort, startAlertmanager, type Alertmanager } from '../support/alertmanager.js';
import { startBot, type BotProcess } from '../support/bot-process.js';
import { tempDir, waitFor, webhook } from '../support/service.js';

/**
 * A restart with a real Alertmanager sending (Debian's prometheus-alertmanager): an alert that fires while the
 * bot drains after SIGTERM is answered 503, Alertmanager retries it, and the bot that starts next on the same
 * address and store triages it. No alert is lost to the restart. The engine is the restart tests' stand-in
 * (set run times): this is about delivery, not triage.
 */

const TOKEN = 'drain-token-0123456789abcdef';
const cleanups: (() => unknown)[] = [];
const bots: BotProcess[] = [];
afterEach(async () => {
  for (const b of bots.splice(0)) if (b.child.exitCode === null && b.child.signalCode === null) b.child.kill('SIGKILL');
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Triage {
  id: string;
  node: string;
  status: string;
  trigger: { kind: string; labels?: Record<string, string> };
}

describe('SIGTERM while Alertmanager is sending', () => {
  it('the alert that fired during the drain is triaged after the restart', async () => {
    const dir = tempDir('pft-drain-');
    cleanups.push(dir.remove);
    const port = await freePort();
    const config = {
      server: { host: '127.0.0.1', port, webhookToken: TOKEN },
      storage: { path: dir.path },
      triage: { cooldownSeconds: 0, shutdownGraceSeconds: 4 },
      nodes: [1, 2].map((n) => ({ name: `node-${n}`, local: true, match: { instance: `node-${n}:9100` } })),
    };
    const first = await startBot(config, { 'node-1': 120_000, '*': 100 });
    bots.push(first);
    const am: Alertmanager = await startAlertmanager({ webhookUrl: `http://127.0.0.1:${port}/alerts`, token: TOKEN, groupWait: '1s', groupInterval: '2s' });
    cleanups.push(() => am.stop());

    // A triage that outlives the grace keeps the first bot draining for the whole 4 s.
    const busy = await fetch(`${first.url}/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(webhook([{ labels: { instance: 'node-1:9100' } }])),
    });
    expect(busy.status).toBe(202);
    await waitFor('node-1 to be triaged', async () => ((await (await fetch(`${first.url}/triages?node=node-1`)).json()) as { triages: Triage[] }).triages[0]?.status === 'running');

    first.child.kill('SIGTERM');
    await am.addAlert('NodeMemoryMajorPagesFaults', { instance: 'node-2:9100', job: 'node' });
    // Alertmanager's first attempt lands in the drain and is told to come back.
    await waitFor('Alertmanager to be answered 503', () => /status code 503|503 Service Unavailable/.test(am.log()), 10_000, 100);
    expect(await first.exited).toBe(0);

    const second = await startBot(config, { '*': 100 });
    bots.push(second);
    const triaged = await waitFor(
      'the retried alert to be triaged by the restarted bot',
      async () => {
        const ts = ((await (await fetch(`${second.url}/triages?node=node-2`)).json()) as { triages: Triage[] }).triages;
        return ts.find((t) => t.status === 'done' && t.trigger.kind === 'alert' && t.trigger.labels?.instance === 'node-2:9100');
      },
      60_000,
      250,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nAlertmanager log:\n${am.log().slice(-4000)}`);
    });
    expect(triaged.node).toBe('node-2');
    // The drain refused it without recording anything: one triage of node-2, not a duplicate.
    expect(((await (await fetch(`${second.url}/triages?node=node-2`)).json()) as { triages: Triage[] }).triages).toHaveLength(1);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});
