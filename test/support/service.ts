/**
 * Helpers for service and route tests: a config on a temp store, a controllable stand-in for the
 * engine (only where a test is about dispatch, not about triage), webhook bodies.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { configSchema, type Config, type NodeConfig } from '../../src/config/schema.js';
import type { Trigger, TriageResult } from '../../src/model/triage.js';
import type { Verdict } from '../../src/model/verdict.js';
import app from '../../src/server/app.js';
import { createService, type Service, type ServiceDeps, type TriageFn } from '../../src/service.js';

export const silentLog = pino({ level: 'silent' });

export function tempDir(prefix = 'pft-svc-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A validated config: `nodes` local nodes named node-1…node-N unless given. */
export function testConfig(storagePath: string, over: { nodes?: unknown[]; triage?: Record<string, unknown>; server?: Record<string, unknown>; playbook?: Record<string, unknown> } = {}): Config {
  return configSchema.parse({
    server: { host: '127.0.0.1', port: 0, ...over.server },
    storage: { path: storagePath },
    triage: { cooldownSeconds: 600, maxConcurrent: 8, ...over.triage },
    playbook: { sampleSeconds: 1, captureSeconds: 1, ...over.playbook },
    nodes: over.nodes ?? [{ name: 'local', local: true, match: [{ instance: 'localhost:9100' }, { instance: 'local' }] }, { name: 'node-1', local: true }, { name: 'node-2', local: true }],
  });
}

export function nodesNamed(n: number): { name: string; local: true }[] {
  return Array.from({ length: n }, (_, i) => ({ name: `node-${i + 1}`, local: true as const }));
}

export function verdictOf(kind: Verdict['kind'], summary: string): Verdict {
  return {
    kind,
    summary,
    pid: kind === 'mmap-read' ? 4242 : null,
    comm: kind === 'mmap-read' ? 'reader' : null,
    path: kind === 'mmap-read' ? '/block' : null,
    confidence: kind === 'failed' ? null : 'high',
    tracer: kind === 'failed' ? null : 'perf',
    faultsPerSec: kind === 'failed' ? null : 812,
    mappings: [],
    notes: [],
    failure: kind === 'failed' ? { code: 'unreachable', message: summary, retryable: true } : null,
  };
}

export function fakeResult(node: NodeConfig, trigger: Trigger, verdict: Verdict = verdictOf('quiet', `no major faults on ${node.name} during the 1 s window`)): TriageResult {
  const now = new Date().toISOString();
  return {
    node: node.name,
    address: 'local',
    trigger,
    startedAt: now,
    finishedAt: now,
    window: { sampleSeconds: 1, captureSeconds: 1 },
    timings: [],
    nodeInfo: null,
    verdict,
    analysis: null,
  };
}

/** Stands in for renderReport where a test is not about the report. */
export const fakeRender: NonNullable<ServiceDeps['render']> = (r) => `# ${r.node}: ${r.verdict.summary}\n\nverdict ${r.verdict.kind}\n`;

/**
 * A triage function that records concurrency: how many run at once, per node and in all. Each call
 * waits `ms` (or until released, with `manual`) and honours its abort signal.
 */
export function recordingTriage(opts: { ms?: number; manual?: boolean } = {}) {
  let running = 0;
  const perNode = new Map<string, number>();
  const stats = { maxRunning: 0, maxPerNode: 0, calls: [] as { node: string; trigger: Trigger }[] };
  const releases: (() => void)[] = [];
  const triage: TriageFn = async (_config, node, trigger, options = {}) => {
    running++;
    const n = (perNode.get(node.name) ?? 0) + 1;
    perNode.set(node.name, n);
    stats.maxRunning = Math.max(stats.maxRunning, running);
    stats.maxPerNode = Math.max(stats.maxPerNode, n);
    stats.calls.push({ node: node.name, trigger });
    try {
      await new Promise<void>((resolve) => {
        const timer = opts.manual ? undefined : setTimeout(resolve, opts.ms ?? 10);
        if (opts.manual) releases.push(resolve);
        options.signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (options.signal?.aborted) return fakeResult(node, trigger, verdictOf('failed', 'cancelled'));
      return fakeResult(node, trigger);
    } finally {
      running--;
      perNode.set(node.name, (perNode.get(node.name) ?? 1) - 1);
    }
  };
  return {
    triage,
    stats,
    get running() {
      return running;
    },
    /** Lets the oldest `n` waiting calls finish (manual mode). */
    release(n = Infinity) {
      for (let i = 0; i < n && releases.length > 0; i++) releases.shift()!();
    },
  };
}

/** The app as tests build it: a bare fastify instance, no port, `app.inject()`. */
export async function buildApp(config: Config, deps: ServiceDeps = {}): Promise<{ app: FastifyInstance; service: Service }> {
  const instance = Fastify({ logger: false, bodyLimit: config.server.bodyLimitBytes });
  const service = await createService(config, { log: silentLog, render: fakeRender, ...deps });
  await instance.register(app, { service });
  await instance.ready();
  return { app: instance, service };
}

export interface AlertSpec {
  labels: Record<string, string>;
  status?: 'firing' | 'resolved';
  fingerprint?: string;
  startsAt?: string;
  annotations?: Record<string, string>;
}

const fixedStart = '2026-11-27T03:12:00.000Z';

/** A fingerprint the way Alertmanager makes one: stable for a label set. */
export function fingerprintOf(labels: Record<string, string>): string {
  let h = 0xcbf29ce484222325n;
  for (const [k, v] of Object.entries(labels).sort()) {
    for (const ch of `${k}\u0000${v}\u0000`) h = ((h ^ BigInt(ch.codePointAt(0)!)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

/** A version-4 webhook body as Alertmanager sends it. */
export function webhook(alerts: AlertSpec[], extra: Record<string, unknown> = {}) {
  const full = alerts.map((a) => {
    const labels = { alertname: 'NodeMemoryMajorPagesFaults', job: 'node', severity: 'warning', ...a.labels };
    const status = a.status ?? 'firing';
    return {
      status,
      labels,
      annotations: { summary: 'Memory major page faults are occurring at very high rate.', ...a.annotations },
      startsAt: a.startsAt ?? fixedStart,
      endsAt: status === 'firing' ? '0001-01-01T00:00:00Z' : '2026-11-27T03:40:00.000Z',
      generatorURL: 'http://prometheus.example:9090/graph?g0.expr=rate%28node_vmstat_pgmajfault%5B5m%5D%29+%3E+500',
      fingerprint: a.fingerprint ?? fingerprintOf(labels),
    };
  });
  return {
    receiver: 'pagefault-triage',
    status: full.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    alerts: full,
    groupLabels: { alertname: 'NodeMemoryMajorPagesFaults' },
    commonLabels: { alertname: 'NodeMemoryMajorPagesFaults' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager.example:9093',
    version: '4',
    groupKey: '{}:{alertname="NodeMemoryMajorPagesFaults"}',
    truncatedAlerts: 0,
    ...extra,
  };
}

export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
