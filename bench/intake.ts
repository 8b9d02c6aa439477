/**
 * 4. Webhook intake: req/s and p99 with autocannon for a 1-alert and a 200-alert webhook, and the bot's memory
 * (after GC) before and after 100,000 webhooks. Anchor: a bare fastify server answering 202 to the same body.
 *
 * The bot is its real server in a child process (bench/intake-child.ts) with its default info-level log to
 * /dev/null, a fresh store, and 200 SSH nodes node-1…node-200 that are never reached (their key file does not
 * exist, so each triage fails at once, before any network). The first notification queues a triage per
 * node; every webhook measured after that is Alertmanager's resend of the same notification, so each alert is
 * validated, routed, looked up in the store and answered `duplicate`: the intake path, without triages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon, { type Result } from 'autocannon';
import { webhook } from '../test/support/service.js';
import { round, type BenchOptions, type Row, type Section } from './lib.js';

interface Memory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

interface Child {
  url: string;
  measure(): Promise<Memory>;
  stop(): Promise<void>;
}

async function startChild(script: string, env: NodeJS.ProcessEnv = {}): Promise<Child> {
  const file = fileURLToPath(new URL(script, import.meta.url));
  const child: ChildProcess = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', file], {
    cwd: fileURLToPath(new URL('../', import.meta.url)),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = (): void => void child.kill('SIGKILL');
  process.once('exit', kill);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start in 30 s: ${stderr}`)), 30_000);
    child.on('message', (m: { listening?: string }) => {
      if (m.listening) {
        clearTimeout(timer);
        resolve(m.listening);
      }
    });
    void exited.then(() => reject(new Error(`${script} exited before listening: ${stderr}`)));
  });
  return {
    url,
    measure: () =>
      new Promise<Memory>((resolve) => {
        const on = (m: { memory?: Memory }): void => {
          if (!m.memory) return;
          child.off('message', on);
          resolve(m.memory);
        };
        child.on('message', on);
        child.send('measure');
      }),
    async stop() {
      child.kill('SIGTERM');
      const t = setTimeout(kill, 10_000);
      await exited;
      clearTimeout(t);
      process.off('exit', kill);
    },
  };
}

async function cannon(url: string, body: string, load: { amount?: number; duration?: number }): Promise<Result> {
  const r = await autocannon({
    url: `${url}/alerts`,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'Alertmanager/0.25.0' },
    body,
    connections: 10,
    ...load,
  });
  if (r.errors > 0 || r.timeouts > 0 || r.non2xx > 0) throw new Error(`autocannon: ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx answers`);
  return r;
}

async function post(url: string, body: string): Promise<{ triages: { status: string }[]; ignored: unknown[] }> {
  const res = await fetch(`${url}/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  if (res.status !== 202) throw new Error(`POST /alerts answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as { triages: { status: string }[]; ignored: unknown[] };
}

const MiB = 1024 * 1024;

export async function run(opts: BenchOptions): Promise<Section> {
  const webhooks = opts.quick ? 10_000 : 100_000;
  const big = opts.quick ? 3 : 8;
  const nodes = 200;
  const store = mkdtempSync(join(tmpdir(), 'pft-bench-store-'));
  const one = JSON.stringify(webhook([{ labels: { instance: 'node-1:9100' } }]));
  const many = JSON.stringify(webhook(Array.from({ length: nodes }, (_, i) => ({ labels: { instance: `node-${i + 1}:9100` } }))));
  const config = {
    // The default limit (server.rateLimit: 300 webhooks a minute per client address) would answer 429 within a
    // second of load: raised so the bench measures what the intake can take, with the limiter still on the path.
    server: { host: '127.0.0.1', port: 0, rateLimit: { windowSeconds: 60, alerts: 1_000_000 } },
    storage: { path: store },
    triage: { cooldownSeconds: 86_400 },
    nodes: Array.from({ length: nodes }, (_, i) => ({
      name: `node-${i + 1}`,
      ssh: { host: '127.0.0.1', port: 9, user: 'triage', privateKeyPath: join(store, 'no-such-key'), hostKey: `SHA256:${'A'.repeat(43)}` },
    })),
  };

  let bot: Child | undefined;
  let bare: Child | undefined;
  try {
    opts.log(`intake: bot child; bodies ${one.length} and ${many.length} bytes`);
    bot = await startChild('./intake-child.ts', { PFT_BENCH_CONFIG: JSON.stringify(config) });
    const first = await post(bot.url, many);
    if (first.triages.filter((t) => t.status === 'queued').length !== nodes) throw new Error(`the first 200-alert webhook did not queue ${nodes} triages: ${JSON.stringify(first).slice(0, 300)}`);
    const again = await post(bot.url, one);
    if (again.triages[0]?.status !== 'duplicate') throw new Error(`a resent 1-alert webhook was not a duplicate: ${JSON.stringify(again)}`);
    await cannon(bot.url, one, { duration: 2 });
    await cannon(bot.url, many, { duration: 1 });
    const baseline = await bot.measure();
    opts.log(`intake: baseline rss ${(baseline.rss / MiB).toFixed(1)} MiB heap ${(baseline.heapUsed / MiB).toFixed(1)} MiB; ${webhooks} 1-alert webhooks`);
    const botOne = await cannon(bot.url, one, { amount: webhooks });
    const after = await bot.measure();
    opts.log(`intake: bot 1-alert ${Math.round(botOne.requests.average)} req/s p99 ${botOne.latency.p99} ms; after rss ${(after.rss / MiB).toFixed(1)} heap ${(after.heapUsed / MiB).toFixed(1)} MiB`);
    const botMany = await cannon(bot.url, many, { duration: big });
    const afterMany = await bot.measure();
    opts.log(`intake: bot 200-alert ${Math.round(botMany.requests.average)} req/s p99 ${botMany.latency.p99} ms`);
    await bot.stop();
    bot = undefined;

    bare = await startChild('./anchor-child.ts');
    await cannon(bare.url, one, { duration: 2 });
    const bareOne = await cannon(bare.url, one, { amount: webhooks });
    const bareMany = await cannon(bare.url, many, { duration: big });
    opts.log(`intake: bare fastify 1-alert ${Math.round(bareOne.requests.average)} req/s p99 ${bareOne.latency.p99} ms; 200-alert ${Math.round(bareMany.requests.average)} req/s`);
    await bare.stop();
    bare = undefined;

    const heapGrowth = (after.heapUsed - baseline.heapUsed) / baseline.heapUsed;
    const rssGrowth = (after.rss - baseline.rss) / baseline.rss;
    const memMet = heapGrowth < 0.1;
    const rows: Row[] = [
      {
        id: '4a',
        measurement: 'webhook intake',
        figure: `1-alert webhook req/s (${webhooks.toLocaleString('en-US')} requests, 10 connections)`,
        value: Math.round(botOne.requests.average),
        unit: 'req/s',
        anchor: { name: 'bare fastify', value: Math.round(bareOne.requests.average), unit: 'req/s' },
        ratio: round(botOne.requests.average / bareOne.requests.average, 2),
        target: '≥ 5,000 req/s',
        met: botOne.requests.average >= 5000,
      },
      {
        id: '4b',
        measurement: 'webhook intake',
        figure: '1-alert webhook p99 latency',
        value: botOne.latency.p99,
        unit: 'ms',
        anchor: { name: 'bare fastify', value: bareOne.latency.p99, unit: 'ms' },
        ratio: round(botOne.latency.p99 / Math.max(1, bareOne.latency.p99), 2),
        target: '< 20 ms',
        met: botOne.latency.p99 < 20,
      },
      {
        id: '4c',
        measurement: 'webhook intake',
        figure: `200-alert webhook req/s (${Math.round(many.length / 1024)} KiB body, ${big} s)`,
        value: Math.round(botMany.requests.average),
        unit: 'req/s',
        anchor: { name: 'bare fastify', value: Math.round(bareMany.requests.average), unit: 'req/s' },
        ratio: round(botMany.requests.average / bareMany.requests.average, 2),
        note: `${Math.round(botMany.requests.average * nodes).toLocaleString('en-US')} alerts/s`,
      },
      {
        id: '4d',
        measurement: 'webhook intake',
        figure: '200-alert webhook p99 latency',
        value: botMany.latency.p99,
        unit: 'ms',
        anchor: { name: 'bare fastify', value: bareMany.latency.p99, unit: 'ms' },
        ratio: round(botMany.latency.p99 / Math.max(1, bareMany.latency.p99), 2),
      },
      {
        id: '4e',
        measurement: 'webhook intake',
        figure: `bot heap after ${webhooks.toLocaleString('en-US')} webhooks (after GC)`,
        value: round(after.heapUsed / MiB, 1),
        unit: 'MiB',
        anchor: { name: 'baseline', value: round(baseline.heapUsed / MiB, 1), unit: 'MiB' },
        ratio: round(after.heapUsed / baseline.heapUsed, 3),
        target: 'back to baseline (< +10 %)',
        met: memMet,
      },
      {
        id: '4f',
        measurement: 'webhook intake',
        figure: `bot RSS after ${webhooks.toLocaleString('en-US')} webhooks (after GC)`,
        value: round(after.rss / MiB, 1),
        unit: 'MiB',
        anchor: { name: 'baseline', value: round(baseline.rss / MiB, 1), unit: 'MiB' },
        ratio: round(after.rss / baseline.rss, 3),
        note: 'RSS includes freed memory the allocator keeps; heap (4e) is what is live',
      },
    ];
    return {
      rows,
      details: {
        bodyBytes: { one: one.length, many: many.length },
        memoryMiB: Object.fromEntries(
          Object.entries({ baseline, after1alert: after, after200alert: afterMany }).map(([k, m]) => [k, { rss: round(m.rss / MiB, 1), heapUsed: round(m.heapUsed / MiB, 1), external: round(m.external / MiB, 1) }]),
        ),
        heapGrowthPercent: round(heapGrowth * 100, 1),
        rssGrowthPercent: round(rssGrowth * 100, 1),
        latencyMs: {
          bot1: { p50: botOne.latency.p50, p99: botOne.latency.p99, max: botOne.latency.max },
          bare1: { p50: bareOne.latency.p50, p99: bareOne.latency.p99, max: bareOne.latency.max },
          bot200: { p50: botMany.latency.p50, p99: botMany.latency.p99, max: botMany.latency.max },
          bare200: { p50: bareMany.latency.p50, p99: bareMany.latency.p99, max: bareMany.latency.max },
        },
      },
      notes: [
        'bot: real server in a child (info-level log to /dev/null, fresh store); every measured webhook is a resend (all alerts answered duplicate after a store lookup); autocannon runs in the parent on the same 2 cores',
        'server.rateLimit.alerts raised to 1,000,000 a minute for the bench: the default (300 a minute per client address) answers 429 to Alertmanager past 5 webhooks/s',
      ],
    };
  } finally {
    await bot?.stop();
    await bare?.stop();
    rmSync(store, { recursive: true, force: true });
  }
}
