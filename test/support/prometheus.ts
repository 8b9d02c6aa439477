/**
 * A real Prometheus and node exporter (Debian's `prometheus` and `prometheus-node-exporter`) on loopback
 * for tests: the exporter reads this machine's /proc, Prometheus scrapes it every second as job `node`,
 * each with its own port, config and data dir. Also a stand-in for the ways a Prometheus fails (slow,
 * answering an API error), which the real one cannot be made to do on demand.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './alertmanager.js';

const PROMETHEUS = '/usr/bin/prometheus';
const NODE_EXPORTER = '/usr/bin/prometheus-node-exporter';

export interface PrometheusStack {
  /** Prometheus's base URL. */
  url: string;
  /** The exporter's `instance` label as Prometheus sets it (`127.0.0.1:PORT`); the job is `node`. */
  instance: string;
  job: 'node';
  /** Stops Prometheus only (the exporter keeps running): "Prometheus is down". */
  stopPrometheus(): Promise<void>;
  /** What both logged, to explain a failure. */
  log(): string;
  /** Stops both and removes their directories. Idempotent. */
  stop(): Promise<void>;
}

function requireBinaries(): void {
  if (!existsSync(PROMETHEUS)) throw new Error(`${PROMETHEUS} is missing: install Debian's prometheus (apt-get install -y prometheus, or sh scripts/install-test-deps.sh)`);
  if (!existsSync(NODE_EXPORTER)) {
    throw new Error(`${NODE_EXPORTER} is missing: install Debian's prometheus-node-exporter (apt-get install -y prometheus-node-exporter, or sh scripts/install-test-deps.sh)`);
  }
}

interface Child {
  proc: ChildProcess;
  exited: () => string | null;
  stop: () => Promise<void>;
}

function startChild(bin: string, args: string[], onOutput: (s: string) => void): Child {
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let exited: string | null = null;
  proc.on('exit', (code, signal) => (exited = `exit ${code ?? signal}`));
  proc.on('error', (e) => (exited = `error ${e.message}`));
  proc.stdout!.on('data', (d: Buffer) => onOutput(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => onOutput(d.toString()));
  return {
    proc,
    exited: () => exited,
    async stop() {
      if (exited !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      if (exited === null) {
        proc.kill('SIGKILL');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      }
    },
  };
}

export async function startPrometheus(opts: { readyTimeoutMs?: number } = {}): Promise<PrometheusStack> {
  requireBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'pft-prometheus-'));
  let output = '';
  const append = (s: string) => {
    output += s;
    if (output.length > 200_000) output = output.slice(-100_000);
  };

  const exporterPort = await freePort();
  // Only the collectors the context reads: less work for a shared machine at one scrape a second.
  const exporter = startChild(
    NODE_EXPORTER,
    [`--web.listen-address=127.0.0.1:${exporterPort}`, '--collector.disable-defaults', '--collector.vmstat', '--collector.pressure', '--collector.meminfo'],
    append,
  );
  const instance = `127.0.0.1:${exporterPort}`;
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: [${JSON.stringify(instance)}]\n`,
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const prometheus = startChild(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
    ],
    append,
  );

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await Promise.all([prometheus.stop(), exporter.stop()]);
      rmSync(dir, { recursive: true, force: true });
    })());

  // Ready means the exporter's target is up in Prometheus, not just that Prometheus listens.
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  for (;;) {
    const gone = prometheus.exited() ?? exporter.exited();
    if (gone !== null) {
      await stop();
      throw new Error(`Prometheus or the node exporter exited (${gone}) before the target was up:\n${output}`);
    }
    const up = await fetch(`${url}/api/v1/query?query=${encodeURIComponent('up{job="node"}')}`)
      .then((r) => (r.ok ? (r.json() as Promise<{ data?: { result?: { value: [number, string] }[] } }>) : null))
      .then((b) => b?.data?.result?.[0]?.value[1] === '1')
      .catch(() => false);
    if (up) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the node exporter target was not up in Prometheus at ${url} within ${(opts.readyTimeoutMs ?? 30_000) / 1000} s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  return { url, instance, job: 'node', stopPrometheus: () => prometheus.stop(), log: () => output, stop };
}

export interface PrometheusStandin {
  url: string;
  /** Requests received: path and query, and the Authorization header. */
  requests: { url: string; authorization: string | undefined }[];
  stop(): Promise<void>;
}

/**
 * An HTTP server that answers like a failing Prometheus: after `delayMs` (default 0) with `status`
 * (default 200) and `body` (default an empty success matrix). A waiting request is dropped on stop.
 */
export async function startPrometheusStandin(opts: { delayMs?: number; status?: number; body?: unknown; rawBody?: string } = {}): Promise<PrometheusStandin> {
  const requests: PrometheusStandin['requests'] = [];
  const timers = new Set<NodeJS.Timeout>();
  const body = opts.rawBody ?? JSON.stringify(opts.body ?? { status: 'success', data: { resultType: 'matrix', result: [] } });
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    requests.push({ url: req.url ?? '', authorization: req.headers.authorization });
    const answer = () => {
      res.writeHead(opts.status ?? 200, { 'content-type': 'application/json' });
      res.end(body);
    };
    if (!opts.delayMs) return answer();
    const t = setTimeout(() => {
      timers.delete(t);
      answer();
    }, opts.delayMs);
    timers.add(t);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async stop() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
