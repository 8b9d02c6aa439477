/**
 * config/alertmanager-replicas.yml, the sample README's "Running several replicas" points at: Debian's amtool
 * validates it and routes NodeMemoryMajorPagesFaults through it, and a real Alertmanager running it delivers the
 * alert (firing, then resolved) with the bearer token to a real bot process. The engine is the restart tests'
 * stand-in (test/support/serve-child.ts): this is about delivery, not triage, so no kernel lock is needed.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { freePort } from '../support/alertmanager.js';
import { startBot, type BotProcess } from '../support/bot-process.js';
import { tempDir, waitFor } from '../support/service.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const SAMPLE = join(ROOT, 'config', 'alertmanager-replicas.yml');
const ALERTMANAGER = '/usr/bin/prometheus-alertmanager';
const AMTOOL = '/usr/bin/amtool';
const TOKEN = 'replicas-sample-token-0123456789';

function requireBinaries(): void {
  for (const bin of [ALERTMANAGER, AMTOOL]) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: install Debian's Alertmanager (apt-get install -y prometheus-alertmanager; scripts/install-test-deps.sh does)`);
  }
}

async function amtool(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(AMTOOL, args);
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, output: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

/** The receivers amtool routes a label set to, in routing-tree order. */
async function receiversFor(file: string, labels: Record<string, string>): Promise<string[]> {
  const { code, output } = await amtool(['config', 'routes', 'test', `--config.file=${file}`, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)]);
  expect(code, output).toBe(0);
  const line = output.split('\n').find((l) => l.trim() !== '' && !l.startsWith('Warning:'));
  return (line ?? '').trim().split(',');
}

interface WebhookConfig {
  url: string;
  send_resolved?: boolean;
  http_config?: { authorization?: { type?: string; credentials?: string; credentials_file?: string } };
}
interface AmConfig {
  route: { receiver: string; group_wait?: string; group_interval?: string; routes?: Array<{ receiver: string; group_wait?: string; group_interval?: string; continue?: boolean }> };
  receivers: Array<{ name: string; webhook_configs?: WebhookConfig[] }>;
}

const sample = (): AmConfig => parse(readFileSync(SAMPLE, 'utf8')) as AmConfig;
const triageReceiver = (c: AmConfig): WebhookConfig => c.receivers.find((r) => r.name === 'pagefault-triage')!.webhook_configs![0]!;

const cleanups: (() => unknown)[] = [];
const bots: BotProcess[] = [];
afterEach(async () => {
  for (const b of bots.splice(0)) if (b.child.exitCode === null && b.child.signalCode === null) b.child.kill('SIGKILL');
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('config/alertmanager-replicas.yml', () => {
  it('passes amtool check-config', async () => {
    requireBinaries();
    const { code, output } = await amtool(['check-config', SAMPLE]);
    expect(code, output).toBe(0);
    expect(output).toMatch(/SUCCESS/);
    expect(output).toMatch(/2 receivers/);
  });

  it('routes NodeMemoryMajorPagesFaults to the bot and still to people; other alerts only to people', async () => {
    requireBinaries();
    expect(await receiversFor(SAMPLE, { alertname: 'NodeMemoryMajorPagesFaults', instance: '10.0.0.5:9100', job: 'node', severity: 'warning' })).toEqual(['pagefault-triage', 'oncall']);
    expect(await receiversFor(SAMPLE, { alertname: 'NodeFilesystemAlmostOutOfSpace', instance: '10.0.0.5:9100', severity: 'warning' })).toEqual(['oncall']);
  });

  it('sends to the one Service URL, resolved notifications too, with a bearer token', () => {
    const wh = triageReceiver(sample());
    expect(new URL(wh.url).pathname).toBe('/alerts');
    expect(wh.send_resolved).toBe(true);
    expect(wh.http_config?.authorization?.type ?? 'Bearer').toBe('Bearer');
    expect(wh.http_config?.authorization?.credentials_file ?? wh.http_config?.authorization?.credentials).toBeTruthy();
  });

  it("is quoted faithfully in README's Running several replicas: the same route and receivers", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Running several replicas'));
    const block = /```yaml\n([\s\S]*?)```/.exec(section.slice(section.indexOf('### Alertmanager')));
    expect(block, 'no yaml block under "Alertmanager"').not.toBeNull();
    const shown = parse(block![1]!) as AmConfig;
    const { route, receivers } = sample();
    expect(shown).toEqual({ route, receivers });
  });

  it('a real Alertmanager running it delivers the alert, firing then resolved, with the token the bot checks', async () => {
    requireBinaries();
    const dir = tempDir('pft-am-replicas-');
    cleanups.push(dir.remove);
    const botPort = await freePort();
    const bot = await startBot(
      {
        server: { host: '127.0.0.1', port: botPort, webhookToken: TOKEN },
        storage: { path: join(dir.path, 'store') },
        nodes: [{ name: 'node-1', local: true, match: { instance: 'node-1:9100' } }],
      },
      { '*': 100 },
    );
    bots.push(bot);

    // The sample as shipped, but pointed at this bot and its token, with short group timings so the test waits
    // seconds, not the sample's minutes. Routing, receiver and authorization stay as they are.
    const config = sample();
    const wh = triageReceiver(config);
    const tokenFile = join(dir.path, 'webhook-token');
    writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
    expect(wh.http_config?.authorization?.credentials_file).toBeDefined();
    wh.http_config!.authorization!.credentials_file = tokenFile;
    wh.url = `${bot.url}/alerts`;
    config.route.group_wait = '1s';
    config.route.group_interval = '2s';
    for (const r of config.route.routes ?? []) {
      r.group_wait = '1s';
      r.group_interval = '2s';
    }
    const amFile = join(dir.path, 'alertmanager.yml');
    writeFileSync(amFile, stringify(config));
    expect((await amtool(['check-config', amFile])).code).toBe(0);

    const amPort = await freePort();
    const amUrl = `http://127.0.0.1:${amPort}`;
    let amLog = '';
    const am: ChildProcess = spawn(
      ALERTMANAGER,
      [`--config.file=${amFile}`, `--storage.path=${join(dir.path, 'am-data')}`, `--web.listen-address=127.0.0.1:${amPort}`, '--cluster.listen-address=', '--log.level=debug'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    am.stdout!.on('data', (d: Buffer) => (amLog += d.toString()));
    am.stderr!.on('data', (d: Buffer) => (amLog += d.toString()));
    const amExited = new Promise<void>((resolve) => am.on('exit', () => resolve()));
    cleanups.push(async () => {
      if (am.exitCode === null && am.signalCode === null) am.kill('SIGTERM');
      await amExited;
    });
    await waitFor('Alertmanager to be ready', async () => (await fetch(`${amUrl}/-/ready`).catch(() => undefined))?.ok === true, 20_000, 200).catch((err: Error) => {
      throw new Error(`${err.message}\n${amLog}`);
    });

    const labels = ['NodeMemoryMajorPagesFaults', 'instance=node-1:9100', 'job=node', 'severity=warning'];
    const add = await amtool(['alert', 'add', `--alertmanager.url=${amUrl}`, ...labels]);
    expect(add.code, add.output).toBe(0);

    const metric = async (name: string, outcome: string): Promise<number> => {
      const text = await (await fetch(`${bot.url}/metrics`)).text();
      const m = new RegExp(`^${name}\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(text);
      return m ? Number(m[1]) : 0;
    };
    const explain = (err: Error): never => {
      throw new Error(`${err.message}\nAlertmanager log:\n${amLog.slice(-4000)}\nbot stderr:\n${bot.stderr().slice(-2000)}`);
    };

    const triage = await waitFor(
      'the alert to be triaged',
      async () => {
        const { triages } = (await (await fetch(`${bot.url}/triages?node=node-1`)).json()) as { triages: Array<{ status: string; trigger: { kind: string; labels?: Record<string, string> } }> };
        return triages.find((t) => t.status === 'done');
      },
      30_000,
      200,
    ).catch(explain);
    expect(triage.trigger.kind).toBe('alert');
    expect(triage.trigger.labels?.instance).toBe('node-1:9100');

    const resolve = await amtool(['alert', 'add', `--alertmanager.url=${amUrl}`, `--end=${new Date().toISOString()}`, ...labels]);
    expect(resolve.code, resolve.output).toBe(0);
    await waitFor('the resolved notification to reach the bot', async () => (await metric('pagefault_triage_alerts_received_total', 'resolved')) >= 1, 30_000, 200).catch(explain);

    // Every webhook carried the token: none was refused.
    expect(await metric('pagefault_triage_webhooks_received_total', 'unauthorized')).toBe(0);
    expect(await metric('pagefault_triage_webhooks_received_total', 'accepted')).toBeGreaterThanOrEqual(2);
    bot.child.kill('SIGTERM');
    expect(await bot.exited).toBe(0);
  });
});
