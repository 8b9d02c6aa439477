/**
 * 9. Several replicas on PostgreSQL, against one process on the embedded SQLite store, in the same run:
 * - webhook intake: req/s and p99 of a 1-alert webhook (Alertmanager's resend of a notification already triaged,
 *   so each is validated, routed, looked up in the store and answered `duplicate`), with 1 replica on SQLite and
 *   with 2 replicas on one PostgreSQL taking the load together (the same 10 connections split between them);
 * - a 500-node alert storm: time from the webhook to the 500th stored verdict with 1, 2 and 3 replicas on
 *   PostgreSQL (and 1 on SQLite). The nodes fail fast (SSH nodes whose key file does not exist, so each triage
 *   fails before any network): this measures the bot and its store, not SSH.
 * Each replica is its own process (test/support/serve-child.ts, the real engine), logging at warn level.
 *
 *   npm run bench -- --only=replicas
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon, { type Result } from 'autocannon';
import { startBot, type BotProcess } from '../test/support/bot-process.js';
import { startPostgres } from '../test/support/postgres.js';
import { REPLICA_TOKEN, startReplicas, stopReplicas } from '../test/support/replicas.js';
import { webhook } from '../test/support/service.js';
import { round, type BenchOptions, type Row, type Section } from './lib.js';

const STORM_NODES = 500;

function sshNodes(n: number, dir: string) {
  return Array.from({ length: n }, (_, i) => ({
    name: `node-${i + 1}`,
    ssh: { host: '127.0.0.1', port: 9, user: 'triage', privateKeyPath: join(dir, 'no-such-key'), hostKey: `SHA256:${'A'.repeat(43)}` },
  }));
}

function config(storage: Record<string, unknown>, nodes: unknown[]) {
  return {
    // The default per-client rate limit would answer 429 within a second of load: raised, still on the path.
    server: { host: '127.0.0.1', port: 0, webhookToken: REPLICA_TOKEN, rateLimit: { windowSeconds: 60, alerts: 1_000_000 } },
    storage,
    triage: { cooldownSeconds: 86_400, maxQueued: 100_000 },
    nodes,
  };
}

const headers = { 'content-type': 'application/json', authorization: `Bearer ${REPLICA_TOKEN}`, 'user-agent': 'Alertmanager/0.25.0' };

async function post(bot: BotProcess, body: string): Promise<{ triages: { status: string }[] }> {
  const res = await fetch(`${bot.url}/alerts`, { method: 'POST', headers, body });
  if (res.status !== 202) throw new Error(`POST /alerts answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as { triages: { status: string }[] };
}

function cannon(bot: BotProcess, body: string, connections: number, duration: number): Promise<Result> {
  return autocannon({ url: `${bot.url}/alerts`, method: 'POST', headers, body, connections, duration }).then((r) => {
    if (r.errors > 0 || r.timeouts > 0 || r.non2xx > 0) throw new Error(`autocannon: ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx answers`);
    return r;
  });
}

/** Finished triages a replica counted (its own), from /metrics. */
async function finishedBy(bot: BotProcess): Promise<number> {
  const text = await (await fetch(`${bot.url}/metrics`)).text();
  return [...text.matchAll(/^pagefault_triage_triages_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

async function waitFinished(bots: readonly BotProcess[], n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const done = (await Promise.all(bots.map(finishedBy))).reduce((a, b) => a + b, 0);
    if (done >= n) return;
    if (Date.now() > deadline) throw new Error(`only ${done} of ${n} triages finished in ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts `bots`, sends the storm to the first, and times it to the last stored verdict (ms). */
async function storm(bots: readonly BotProcess[]): Promise<number> {
  const body = JSON.stringify(webhook(Array.from({ length: STORM_NODES }, (_, i) => ({ labels: { instance: `node-${i + 1}:9100` } }))));
  const t0 = performance.now();
  const answer = await post(bots[0]!, body);
  if (answer.triages.filter((t) => t.status === 'queued').length !== STORM_NODES) throw new Error('the storm did not queue one triage per node');
  await waitFinished(bots, STORM_NODES, 300_000);
  return performance.now() - t0;
}

export async function run(opts: BenchOptions): Promise<Section> {
  const duration = opts.quick ? 3 : 8;
  const pg = await startPostgres();
  const dir = mkdtempSync(join(tmpdir(), 'pft-bench-replicas-'));
  let dbs = 0;
  const running: BotProcess[] = [];
  const start = async (n: number, storage: 'sqlite' | 'postgres', nodes: unknown[]): Promise<BotProcess[]> => {
    const store = storage === 'sqlite' ? { path: join(dir, `sqlite-${++dbs}`) } : { url: await pg.createDatabase(`bench_${++dbs}`) };
    const bots =
      storage === 'sqlite'
        ? [await startBot(config(store, nodes), {}, { engine: 'real', replica: 'sqlite-1' })]
        : await startReplicas(n, config(store, nodes), { engine: 'real', pollMs: 200 });
    running.push(...bots);
    return bots;
  };
  const stopAll = async () => stopReplicas(running.splice(0));
  try {
    // Intake: 200 nodes, one notification queued once (its triages fail at once), then its resends.
    const nodes = sshNodes(200, dir);
    const many = JSON.stringify(webhook(Array.from({ length: 200 }, (_, i) => ({ labels: { instance: `node-${i + 1}:9100` } }))));
    const one = JSON.stringify(webhook([{ labels: { instance: 'node-1:9100' } }]));

    opts.log('replicas: intake, 1 replica on SQLite');
    const [single] = await start(1, 'sqlite', nodes);
    await post(single!, many);
    await waitFinished([single!], 200, 60_000);
    const sqlite = await cannon(single!, one, 10, duration);
    await stopAll();

    opts.log('replicas: intake, 2 replicas on PostgreSQL');
    const pair = await start(2, 'postgres', nodes);
    await post(pair[0]!, many);
    await waitFinished(pair, 200, 60_000);
    const both = await Promise.all(pair.map((b) => cannon(b, one, 5, duration)));
    await stopAll();
    const pgReqs = both.reduce((n, r) => n + r.requests.average, 0);
    const pgP99 = Math.max(...both.map((r) => r.latency.p99));

    // The storm: 500 nodes, fresh database each time.
    const stormNodes = sshNodes(STORM_NODES, dir);
    const drain: Record<string, number> = {};
    opts.log('replicas: storm, 1 replica on SQLite');
    drain.sqlite1 = await storm(await start(1, 'sqlite', stormNodes));
    await stopAll();
    for (const n of [1, 2, 3]) {
      opts.log(`replicas: storm, ${n} replica(s) on PostgreSQL`);
      drain[`pg${n}`] = await storm(await start(n, 'postgres', stormNodes));
      await stopAll();
    }

    const rows: Row[] = [
      {
        id: '9a',
        measurement: 'intake',
        figure: '1-alert webhook req/s, 2 replicas on one PostgreSQL (10 connections split between them)',
        value: Math.round(pgReqs),
        unit: 'req/s',
        anchor: { name: '1 replica on SQLite', value: Math.round(sqlite.requests.average), unit: 'req/s' },
        ratio: round(pgReqs / sqlite.requests.average, 2),
      },
      {
        id: '9b',
        measurement: 'intake',
        figure: '1-alert webhook p99 latency, 2 replicas on PostgreSQL (worse of the two)',
        value: pgP99,
        unit: 'ms',
        anchor: { name: '1 replica on SQLite', value: sqlite.latency.p99, unit: 'ms' },
        ratio: round(pgP99 / Math.max(1, sqlite.latency.p99), 2),
      },
      ...[1, 2, 3].map(
        (n): Row => ({
          id: `9${String.fromCharCode(98 + n)}`,
          measurement: 'storm',
          figure: `500-node storm to the last stored verdict, ${n} replica${n > 1 ? 's' : ''} on PostgreSQL (nodes fail fast)`,
          value: round(drain[`pg${n}`]! / 1000, 2),
          unit: 's',
          anchor: { name: '1 replica on SQLite', value: round(drain.sqlite1! / 1000, 2), unit: 's' },
          ratio: round(drain[`pg${n}`]! / drain.sqlite1!, 2),
        }),
      ),
    ];
    return {
      rows,
      details: { durationSeconds: duration, drainMs: drain, sqlite: { reqs: sqlite.requests.average, p99: sqlite.latency.p99 }, postgres: both.map((r) => ({ reqs: r.requests.average, p99: r.latency.p99 })) },
      notes: ['each replica runs at most triage.maxConcurrent (8) triages; maxQueued and cooldown are shared through the database'],
    };
  } finally {
    await stopAll();
    await pg.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
