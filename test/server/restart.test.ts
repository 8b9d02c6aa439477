import { afterEach, describe, expect, it } from 'vitest';
import { startBot, type BotProcess } from '../support/bot-process.js';
import { tempDir, waitFor, webhook, type AlertSpec } from '../support/service.js';

/**
 * Restarts of a real bot process (server, store, dispatcher; stand-in engine with set run times):
 * no triage in flight is ever lost. Each ends done (run again after a crash), or failed with failure code `interrupted`.
 */

const TOKEN = 'test-token-0123456789abcdef';
const bots: BotProcess[] = [];
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const b of bots.splice(0)) if (b.child.exitCode === null && b.child.signalCode === null) b.child.kill('SIGKILL');
  cleanups.splice(0).forEach((c) => c());
});

interface Triage {
  id: string;
  node: string;
  status: string;
  verdict: { kind: string; failure: { code: string } | null } | null;
}

const configFor = (storage: string, triage: Record<string, unknown>) => ({
  server: { host: '127.0.0.1', port: 0, webhookToken: TOKEN },
  storage: { path: storage },
  triage: { cooldownSeconds: 600, ...triage },
  nodes: Array.from({ length: 6 }, (_, i) => ({ name: `node-${i + 1}`, local: true })),
});

async function start(config: object, ms: Record<string, number>): Promise<BotProcess> {
  const bot = await startBot(config, ms);
  bots.push(bot);
  return bot;
}

async function post(bot: BotProcess, alerts: AlertSpec[]) {
  const res = await fetch(`${bot.url}/alerts`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(webhook(alerts)) });
  expect(res.status).toBe(202);
  return (await res.json()) as { triages: { id: string; node: string; status: string }[] };
}

const get = async (bot: BotProcess, id: string): Promise<Triage> => (await fetch(`${bot.url}/triages/${id}`)).json() as Promise<Triage>;
const all = (bot: BotProcess, ids: string[]) => Promise.all(ids.map((id) => get(bot, id)));
const settled = (t: Triage) => t.status === 'done' || (t.status === 'failed' && t.verdict?.failure?.code === 'interrupted');
const alertsFor = (nodes: number[]) => nodes.map((n) => ({ labels: { instance: `node-${n}:9100` } }));

describe('restart with triages in flight', () => {
  it('after a crash (SIGKILL): running triages are taken over once their lease expires and run again, queued ones run, none is lost', async () => {
    const dir = tempDir('pft-restart-');
    cleanups.push(dir.remove);
    const config = configFor(dir.path, { maxConcurrent: 2, leaseSeconds: 2 });
    const first = await start(config, { '*': 120_000 });
    const ids = (await post(first, alertsFor([1, 2, 3, 4, 5, 6]))).triages.map((t) => t.id);
    expect(ids).toHaveLength(6);
    await waitFor('two triages running', async () => (await all(first, ids)).filter((t) => t.status === 'running').length === 2);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');

    const second = await start(config, { '*': 100 });
    const final = await waitFor('every triage to settle', async () => {
      const ts = await all(second, ids);
      return ts.every(settled) && ts;
    }, 20_000);
    // The two cut short by the crash ran again, to a verdict: nothing was lost and nothing is left running.
    expect(final.map((t) => [t.node, t.status])).toEqual([1, 2, 3, 4, 5, 6].map((n) => [`node-${n}`, 'done']));
    const metrics = await (await fetch(`${second.url}/metrics`)).text();
    expect(metrics).toMatch(/^pagefault_triage_lease_takeovers_total\{outcome="requeued"\} 2$/m);

    // Dedup survives the restart: a resend of the alerts is still a duplicate of the triage each started.
    const resent = await post(second, alertsFor([1, 3]));
    expect(resent.triages.map((t) => [t.id, t.status])).toEqual([[ids[0], 'duplicate'], [ids[2], 'duplicate']]);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('on SIGTERM: stops taking webhooks, lets running triages finish within the grace, marks the rest interrupted', async () => {
    const dir = tempDir('pft-restart-');
    cleanups.push(dir.remove);
    const config = configFor(dir.path, { maxConcurrent: 2, shutdownGraceSeconds: 3 });
    // node-1 finishes inside the grace, node-2 does not; node-3… wait in the queue.
    const first = await start(config, { 'node-1': 1_500, 'node-2': 120_000, '*': 100 });
    const ids = (await post(first, alertsFor([1, 2, 3, 4]))).triages.map((t) => t.id);
    await waitFor('two triages running', async () => (await all(first, ids)).filter((t) => t.status === 'running').length === 2);
    const t0 = Date.now();
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(2_900);
    expect(took).toBeLessThan(3_000 + 2_000 + 2_000); // grace + settle bound + process exit

    const second = await start(config, { '*': 100 });
    const final = await waitFor('every triage to settle', async () => {
      const ts = await all(second, ids);
      return ts.every(settled) && ts;
    }, 20_000);
    expect(final.map((t) => [t.node, t.status, t.verdict?.failure?.code ?? null])).toEqual([
      ['node-1', 'done', null],
      ['node-2', 'failed', 'interrupted'],
      ['node-3', 'done', null],
      ['node-4', 'done', null],
    ]);
    expect(final[1]!.verdict).toMatchObject({ summary: 'interrupted: the bot shut down while this triage was running (it had 3 s to finish)' });
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('while draining after SIGTERM, webhooks get 503 + Retry-After (Alertmanager retries) instead of a refused connection', async () => {
    const dir = tempDir('pft-restart-');
    cleanups.push(dir.remove);
    const bot = await start(configFor(dir.path, { maxConcurrent: 2, shutdownGraceSeconds: 3 }), { 'node-1': 120_000, '*': 100 });
    const [id] = (await post(bot, alertsFor([1]))).triages.map((t) => t.id);
    await waitFor('the triage to run', async () => (await get(bot, id!)).status === 'running');
    const t0 = Date.now();
    bot.child.kill('SIGTERM');
    // Well inside the 3 s grace: the bot is draining, not gone.
    await new Promise((r) => setTimeout(r, 500));
    const during = await fetch(`${bot.url}/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, connection: 'close' },
      body: JSON.stringify(webhook(alertsFor([2]))),
    });
    expect(Date.now() - t0).toBeLessThan(2_900);
    expect(during.status).toBe(503);
    expect(Number(during.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await during.json()) as { message: string }).message).toMatch(/shutting down; Alertmanager will retry/);
    const ready = await fetch(`${bot.url}/-/ready`, { headers: { connection: 'close' } });
    expect(ready.status).toBe(503);
    await ready.arrayBuffer();
    expect(await bot.exited).toBe(0);
    // Nothing was recorded for the refused webhook: its retry after the restart is a new alert, not a duplicate.
    const second = await start(configFor(dir.path, {}), { '*': 100 });
    const again = await post(second, alertsFor([2]));
    expect(again.triages.map((t) => [t.node, t.status])).toEqual([['node-2', 'queued']]);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('queued triages older than triage.requeueMaxAgeSeconds are marked interrupted instead of run late', async () => {
    const dir = tempDir('pft-restart-');
    cleanups.push(dir.remove);
    const first = await start(configFor(dir.path, { maxConcurrent: 1, leaseSeconds: 1 }), { '*': 120_000 });
    const ids = (await post(first, alertsFor([1, 2]))).triages.map((t) => t.id);
    await waitFor('one triage running', async () => (await all(first, ids)).some((t) => t.status === 'running'));
    first.child.kill('SIGKILL');
    await first.exited;
    await new Promise((r) => setTimeout(r, 1_100));
    const second = await start(configFor(dir.path, { maxConcurrent: 1, requeueMaxAgeSeconds: 1, leaseSeconds: 1 }), { '*': 100 });
    // node-1 was running: its lease runs out, and being older than requeueMaxAgeSeconds it is not run again.
    const final = await waitFor('both to settle', async () => {
      const ts = await all(second, ids);
      return ts.every(settled) && ts;
    }, 10_000);
    expect(final.map((t) => [t.node, t.status, t.verdict?.failure?.code])).toEqual([
      ['node-1', 'failed', 'interrupted'],
      ['node-2', 'failed', 'interrupted'],
    ]);
    expect((final[1]!.verdict as unknown as { summary: string }).summary).toMatch(
      /^interrupted: the bot stopped before this triage started, and after restart it was \d+ s old \(triage.requeueMaxAgeSeconds = 1\)$/,
    );
    second.child.kill('SIGTERM');
    await second.exited;
  });
});
