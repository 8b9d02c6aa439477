/**
 * A real Alertmanager (Debian's prometheus-alertmanager) on loopback for end-to-end tests: its own
 * config and storage in a temp dir, clustering off, one webhook receiver pointing at the bot with
 * `http_config.authorization`, short group timings. Alerts go in through `amtool`, as a person would.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const ALERTMANAGER = '/usr/bin/prometheus-alertmanager';
const AMTOOL = '/usr/bin/amtool';
const run = promisify(execFile);

export interface Alertmanager {
  url: string;
  /** `amtool alert add ALERTNAME label=value…` (`--start` to give two Alertmanagers the same firing, `--end` to resolve). */
  addAlert(alertname: string, labels: Record<string, string>, opts?: { annotations?: Record<string, string>; start?: Date; end?: Date }): Promise<void>;
  /** What Alertmanager logged (to explain a failure). */
  log(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function requireBinaries(): void {
  for (const bin of [ALERTMANAGER, AMTOOL]) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: install Debian's Alertmanager (apt-get install -y prometheus-alertmanager)`);
  }
}

export async function startAlertmanager(opts: { webhookUrl: string; token: string; groupWait?: string; groupInterval?: string }): Promise<Alertmanager> {
  requireBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'pft-alertmanager-'));
  const config = `
route:
  receiver: pagefault-triage
  group_by: [alertname, instance]
  group_wait: ${opts.groupWait ?? '1s'}
  group_interval: ${opts.groupInterval ?? '2s'}
  repeat_interval: 1h
receivers:
  - name: pagefault-triage
    webhook_configs:
      - url: ${JSON.stringify(opts.webhookUrl)}
        send_resolved: true
        http_config:
          authorization:
            credentials: ${JSON.stringify(opts.token)}
`;
  writeFileSync(join(dir, 'alertmanager.yml'), config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    ALERTMANAGER,
    [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=', // no clustering: nothing listens beyond the web port
      '--log.level=debug',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  let exited: string | null = null;
  child.on('exit', (code, signal) => (exited = `exit ${code ?? signal}`));

  const stop = async (): Promise<void> => {
    if (exited === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      if (exited === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited !== null) {
      await stop();
      throw new Error(`Alertmanager exited (${exited}) before it was ready:\n${output}`);
    }
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Alertmanager was not ready on ${url} within 20 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    async addAlert(alertname, labels, o = {}) {
      const args = [`--alertmanager.url=${url}`, 'alert', 'add', alertname, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)];
      for (const [k, v] of Object.entries(o.annotations ?? {})) args.push(`--annotation=${k}=${v}`);
      if (o.start) args.push(`--start=${o.start.toISOString()}`);
      if (o.end) args.push(`--end=${o.end.toISOString()}`);
      try {
        await run(AMTOOL, args, { timeout: 15_000 });
      } catch (err) {
        throw new Error(`amtool ${args.join(' ')} failed: ${(err as { stderr?: string }).stderr ?? String(err)}`);
      }
    },
    log: () => output,
    stop,
  };
}
