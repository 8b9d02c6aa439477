import { describe, expect, it } from 'vitest';
import type { BotProcess } from '../support/bot-process.js';
import { startAlertmanager, type Alertmanager } from '../support/alertmanager.js';
import { postAlerts, replicaConfig, REPLICA_TOKEN, startReplicas, triagesOf, type TriageJson } from '../support/replicas.js';
import { replicaTestFile } from '../support/replica-tests.js';
import { checkStore } from '../../src/cli/doctor-store.js';
import { waitFor, webhook } from '../support/service.js';
import { SlackStandin } from '../support/slack-standin.js';
import { CHANNEL, commandForm, SIGNING_SECRET, signSlackRequest } from '../slack/helpers.js';

/**
 * Several replicas on one real PostgreSQL (each replica its own process, the stand-in engine with set run times):
 * whatever replica a webhook, a retry or a Slack request reaches, the result is the one a single bot gives.
 */

const { pg, database, bots, cleanups } = replicaTestFile('replicas');

const nodes = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `node-${i + 1}`, local: true }));

async function replicas(n: number, config: Record<string, unknown>, triageMs: Record<string, number> = { '*': 100 }) {
  const started = await startReplicas(n, config, { triageMs });
  bots.push(...started);
  return started;
}

async function slack(): Promise<SlackStandin> {
  const s = await SlackStandin.start();
  cleanups.push(() => s.close());
  return s;
}

const slackConfig = (s: SlackStandin) => ({ token: s.token, signingSecret: SIGNING_SECRET, channel: CHANNEL, apiUrl: s.apiUrl, requestTimeoutSeconds: 2, retry: { initialSeconds: 0.05, maxSeconds: 0.2 } });

/** The Slack calls that carry a triage's metadata, by purpose. */
function postsFor(s: SlackStandin, id: string): string[] {
  return s
    .okCalls('chat.postMessage')
    .filter((c) => (c.args.metadata as { event_payload?: { triage_id?: string } } | undefined)?.event_payload?.triage_id === id)
    .map((c) => String((c.args.metadata as { event_payload: { purpose: string } }).event_payload.purpose));
}

const finished = (t: TriageJson) => t.status === 'done' || t.status === 'failed';

describe('several replicas on one PostgreSQL', () => {
  it('the same notification POSTed 5 times to each of two replicas at once gives one triage, one start message and one update', async () => {
    const s = await slack();
    const config = replicaConfig(await database(), { nodes: [{ name: 'local', local: true, match: { instance: 'localhost:9100' } }], slack: slackConfig(s) });
    const [a, b] = await replicas(2, config, { '*': 500 });
    const body = webhook([{ labels: { instance: 'localhost:9100' } }]);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => postAlerts(i % 2 === 0 ? a! : b!, body)));
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(202));
    const ids = new Set(answers.flatMap((r) => (r.json as { triages: { id: string }[] }).triages.map((t) => t.id)));
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    const statuses = answers.map((r) => (r.json as { triages: { status: string }[] }).triages[0]!.status).sort();
    expect(statuses).toEqual(['duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'queued']);
    const done = await waitFor('the triage to finish', async () => {
      const all = await triagesOf(a!);
      return all.length === 1 && finished(all[0]!) && all;
    }, 20_000);
    expect(done[0]).toMatchObject({ id, status: 'done', verdict: { kind: 'quiet' } });
    await s.waitFor('the start message to be updated with the verdict', () => s.okCalls('chat.update').length >= 1);
    expect(postsFor(s, id!)).toEqual(['start']);
    expect(s.okCalls('chat.update')).toHaveLength(1);
    // Nothing else is on its way: a late second update would show here.
    await new Promise((r) => setTimeout(r, 1000));
    expect(s.okCalls('chat.update')).toHaveLength(1);
    expect(s.okCalls('chat.postMessage')).toHaveLength(1);
    // Each replica says who it is and what store it uses.
    for (const [i, bot] of [a!, b!].entries()) {
      const text = await (await fetch(`${bot.url}/metrics`)).text();
      expect(text).toMatch(new RegExp(`^pagefault_triage_replica_info\\{replica="replica-${i + 1}",store="postgres"\\} 1$`, 'm'));
      expect(text).toMatch(/^pagefault_triage_store_up 1$/m);
      expect(text).toMatch(/^pagefault_triage_leases_held 0$/m);
    }
  }, 60_000);

  it('200 alerts over 50 nodes spread across 3 replicas: each node triaged once, never twice at a time, cooldown held, each Slack message once', async () => {
    const s = await slack();
    const config = replicaConfig(await database(), {
      nodes: nodes(50).map((n) => ({ ...n, match: { instance: `${n.name}:9100` } })),
      triage: { cooldownSeconds: 600, maxConcurrent: 4 },
      slack: slackConfig(s),
    });
    const bots3 = await replicas(3, config, { '*': 50 });
    // 4 firings per node (different startsAt): the first admitted queues, the others meet the cooldown.
    const alerts = Array.from({ length: 200 }, (_, i) => ({
      labels: { instance: `node-${(i % 50) + 1}:9100` },
      startsAt: new Date(Date.parse('2026-11-30T03:00:00Z') + Math.floor(i / 50) * 60_000).toISOString(),
    }));
    // 20 webhooks of 10 alerts, each to one of the replicas, all at once.
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, w) => postAlerts(bots3[w % 3]!, webhook(alerts.slice(w * 10, w * 10 + 10)))),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(202));
    const queued = answers.flatMap((r) => (r.json as { triages: { id: string; node: string; status: string }[] }).triages.filter((t) => t.status === 'queued'));
    const cooled = answers.flatMap((r) => (r.json as { ignored: { reason: string }[] }).ignored.filter((x) => /is in cooldown/.test(x.reason)));
    expect(queued).toHaveLength(50);
    expect(new Set(queued.map((t) => t.node)).size).toBe(50);
    expect(cooled).toHaveLength(150);

    const all = await waitFor('every triage to finish', async () => {
      const ts = await triagesOf(bots3[0]!);
      return ts.length === 50 && ts.every(finished) && ts;
    }, 60_000);
    expect(all.every((t) => t.status === 'done')).toBe(true);
    // One triage per node, so none ran twice at a time; and they ran on more than one replica.
    expect(new Set(all.map((t) => t.node)).size).toBe(50);
    for (const t of all) expect(Date.parse(t.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(t.startedAt!));

    // Each triage: exactly one start message, and one update with its verdict.
    await s.waitFor('every verdict in Slack', () => s.okCalls('chat.update').length >= 50, 30_000);
    for (const t of all) expect(postsFor(s, t.id)).toEqual(['start']);
    const updated = s.okCalls('chat.update').map((c) => String(c.args.ts));
    expect(new Set(updated).size).toBe(50);
    expect(updated).toHaveLength(50);

    // Which replica ran what is in the metrics: the work was shared.
    const ran = await Promise.all(
      bots3.map(async (b) => {
        const text = await (await fetch(`${b.url}/metrics`)).text();
        return [...text.matchAll(/^pagefault_triage_triages_total\{trigger="alert",verdict="quiet"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
      }),
    );
    expect(ran.reduce((x, y) => x + y, 0)).toBe(50);
    expect(ran.filter((n) => n > 0).length).toBeGreaterThan(1);
  }, 120_000);

  it('the same node asked for at every replica at once (three people, three commands): one triage runs, each is told which', async () => {
    const s = await slack();
    const config = replicaConfig(await database(), { nodes: nodes(1), slack: slackConfig(s) });
    const bots3 = await replicas(3, config, { '*': 1500 });
    const ask = (b: BotProcess, user: string) => {
      const body = new URLSearchParams(commandForm('node-1', { user_id: user })).toString();
      const ts = Math.floor(Date.now() / 1000);
      return fetch(`${b.url}/slack/commands`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(ts), 'x-slack-signature': signSlackRequest(SIGNING_SECRET, ts, body) },
        body,
      });
    };
    const answers = await Promise.all(bots3.map((b, i) => ask(b, `U0USER${i}`)));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    const all = await waitFor('the triage to finish', async () => {
      const ts = await triagesOf(bots3[0]!);
      return ts.length > 0 && ts.every(finished) && ts;
    }, 20_000);
    expect(all.map((t) => [t.node, t.status])).toEqual([['node-1', 'done']]);
    const texts = await Promise.all(answers.map(async (r) => ((await r.json()) as { text: string }).text));
    for (const text of texts) expect(text).toContain(all[0]!.id);
  }, 60_000);

  it('a slash command Slack sends again (X-Slack-Retry-Num) to another replica starts one triage and gets the first answer', async () => {
    const s = await slack();
    const config = replicaConfig(await database(), { nodes: nodes(2), slack: slackConfig(s) });
    const [a, b] = await replicas(2, config, { '*': 300 });
    const body = new URLSearchParams(commandForm('node-2')).toString();
    const send = (bot: BotProcess, retry?: number) => {
      const ts = Math.floor(Date.now() / 1000);
      return fetch(`${bot.url}/slack/commands`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-slack-request-timestamp': String(ts),
          'x-slack-signature': signSlackRequest(SIGNING_SECRET, ts, body),
          ...(retry ? { 'x-slack-retry-num': String(retry), 'x-slack-retry-reason': 'http_timeout' } : {}),
        },
        body,
      });
    };
    const first = await send(a!);
    const second = await send(b!, 1);
    const third = await send(a!, 2);
    const texts = await Promise.all([first, second, third].map(async (r) => ({ status: r.status, body: (await r.json()) as { text: string } })));
    expect(texts.map((t) => t.status)).toEqual([200, 200, 200]);
    expect(texts[1]!.body).toEqual(texts[0]!.body);
    expect(texts[2]!.body).toEqual(texts[0]!.body);
    const all = await waitFor('the triage to finish', async () => {
      const ts = await triagesOf(a!);
      return ts.length > 0 && ts.every(finished) && ts;
    }, 20_000);
    expect(all.map((t) => [t.node, t.trigger.kind, t.status])).toEqual([['node-2', 'slack', 'done']]);
  }, 60_000);

  it('two Alertmanagers that do not know each other (a partition), each sending the alert to a different replica: one triage, one start, one verdict, one resolved reply', async () => {
    const s = await slack();
    const config = replicaConfig(await database(), { nodes: [{ name: 'node-1', local: true, match: { instance: 'node-1:9100' } }], slack: slackConfig(s) });
    const [a, b] = await replicas(2, config, { '*': 200 });
    const ams: Alertmanager[] = [];
    cleanups.push(async () => {
      for (const am of ams) await am.stop();
    });
    for (const bot of [a!, b!]) ams.push(await startAlertmanager({ webhookUrl: `${bot.url}/alerts`, token: REPLICA_TOKEN }));
    // The same alert, as the same Prometheus rule would send it to both: the same labels and the same startsAt.
    await Promise.all(ams.map((am) => am.addAlert('NodeMemoryMajorPagesFaults', { instance: 'node-1:9100', severity: 'warning' }, { start: new Date('2026-11-30T03:00:00Z') })));
    const seen = await waitFor('both Alertmanagers to have delivered', async () => {
      const logs = ams.map((am) => am.log());
      return logs.every((l) => /Notify success/.test(l)) && logs;
    }, 30_000);
    expect(seen).toHaveLength(2);
    const all = await waitFor('the triage to finish', async () => {
      const ts = await triagesOf(a!);
      return ts.length > 0 && ts.every(finished) && ts;
    }, 20_000);
    expect(all.map((t) => [t.node, t.trigger.kind, t.status])).toEqual([['node-1', 'alert', 'done']]);
    expect((await triagesOf(b!)).map((t) => t.id)).toEqual(all.map((t) => t.id));
    await s.waitFor('the verdict in Slack', () => s.okCalls('chat.update').length >= 1);

    // Both resolve it: each replica hears it resolved, and the thread gets one reply.
    await Promise.all(ams.map((am) => am.addAlert('NodeMemoryMajorPagesFaults', { instance: 'node-1:9100', severity: 'warning' }, { start: new Date('2026-11-30T03:00:00Z'), end: new Date(Date.now() - 1000) })));
    await waitFor('both Alertmanagers to have sent the resolve', () => ams.every((am) => (am.log().match(/Notify success/g) ?? []).length >= 2), 30_000);
    await s.waitFor('the resolved reply', () => postsFor(s, all[0]!.id).includes('resolved'), 15_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(postsFor(s, all[0]!.id).sort()).toEqual(['resolved', 'start']);
    expect(s.okCalls('chat.update')).toHaveLength(1);
  }, 90_000);

  it('doctor checks the shared store: reachable and its schema version; unreachable is a failure that says where', async () => {
    const url = await database();
    const ok = await checkStore({ url, path: './unused', retentionDays: 30, maxEvidenceBytes: 2 * 1024 * 1024 });
    expect(ok.ok).toBe(true);
    expect(ok.detail).toMatch(/^ok: postgres postgres:\/\/\S+@127\.0\.0\.1:\d+\/replicas_\d+, schema (\d+) \(this build knows \1\)$/);
    const gone = await checkStore({ url: url.replace(/:(\d+)\//, ':1/'), path: './unused', retentionDays: 30, maxEvidenceBytes: 2 * 1024 * 1024 });
    expect(gone.ok).toBe(false);
    expect(gone.detail).toMatch(/^store_unavailable: .*127\.0\.0\.1:1\/replicas_\d+ is unreachable/);
  });

  it('PostgreSQL going away: 503 for webhooks and /-/ready, the running triage keeps its verdict and stores it once the database is back, a resent webhook is accepted, nothing lost', async () => {
    const config = replicaConfig(await database(), { nodes: nodes(3).map((n) => ({ ...n, match: { instance: `${n.name}:9100` } })) });
    const [a, b] = await replicas(2, config, { 'node-1': 4000, '*': 100 });
    const first = await postAlerts(a!, webhook([{ labels: { instance: 'node-1:9100' } }]));
    expect(first.status).toBe(202);
    const id = (first.json as { triages: { id: string }[] }).triages[0]!.id;
    await waitFor('the triage to run', async () => (await triagesOf(a!)).some((t) => t.id === id && t.status === 'running'), 10_000);

    await pg().stop();
    const during = await postAlerts(b!, webhook([{ labels: { instance: 'node-2:9100' } }]));
    expect(during.status).toBe(503);
    expect(during.json).toMatchObject({ error: 'store unavailable' });
    await waitFor('/-/ready to say 503 on both replicas', async () => {
      const codes = await Promise.all([a!, b!].map(async (bot) => (await fetch(`${bot.url}/-/ready`)).status));
      return codes.every((c) => c === 503);
    }, 5_000);
    // The run ends while the database is away (4 s), and its verdict waits in memory.
    await new Promise((r) => setTimeout(r, 5000));
    await pg().start();

    await waitFor('/-/ready to say 200 again', async () => {
      const codes = await Promise.all([a!, b!].map(async (bot) => (await fetch(`${bot.url}/-/ready`)).status));
      return codes.every((c) => c === 200);
    }, 15_000);
    // Alertmanager sends the refused notification again: accepted now.
    const resent = await postAlerts(b!, webhook([{ labels: { instance: 'node-2:9100' } }]));
    expect(resent.status).toBe(202);
    const all = await waitFor('both triages stored', async () => {
      const ts = await triagesOf(a!);
      return ts.length === 2 && ts.every(finished) && ts;
    }, 20_000);
    expect(all.map((t) => [t.node, t.status]).sort()).toEqual([['node-1', 'done'], ['node-2', 'done']]);
    expect(all.find((t) => t.node === 'node-1')!.id).toBe(id);
  }, 90_000);
});
