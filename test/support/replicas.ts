/**
 * Several bot replicas on one real PostgreSQL, each its own process (test/support/serve-child.ts), for the
 * replica tests and benchmarks: the same configuration, one `storage.url`, each its own port and replica name.
 */
import { startBot, type BotProcess } from './bot-process.js';

export const REPLICA_TOKEN = 'replica-token-0123456789abcdef';

export interface ReplicaOptions {
  /** The stand-in engine's run time per node ({node: ms, '*': ms}); ignored with engine 'real'. */
  triageMs?: Record<string, number>;
  engine?: 'real' | 'standin';
  /** How often each replica looks for work admitted elsewhere (ms). */
  pollMs?: number;
  logLevel?: string;
}

/** The configuration every replica shares: `storage.url`, the webhook token, the rest from `over`. */
export function replicaConfig(url: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  const { server, storage, ...rest } = over as { server?: Record<string, unknown>; storage?: Record<string, unknown> };
  return {
    server: { host: '127.0.0.1', port: 0, webhookToken: REPLICA_TOKEN, ...server },
    storage: { url, ...storage },
    ...rest,
  };
}

export async function startReplicas(n: number, config: Record<string, unknown>, opts: ReplicaOptions = {}): Promise<BotProcess[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      startBot(config, opts.triageMs ?? { '*': 100 }, {
        replica: `replica-${i + 1}`,
        pollMs: opts.pollMs ?? 200,
        ...(opts.engine ? { engine: opts.engine } : {}),
        ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
      }),
    ),
  );
}

/** SIGTERM, and SIGKILL after 10 s: every replica is gone when this resolves. */
export async function stopReplicas(bots: readonly BotProcess[]): Promise<void> {
  await Promise.all(
    bots.map(async (b) => {
      if (b.child.exitCode !== null || b.child.signalCode !== null) return;
      b.child.kill('SIGTERM');
      const timer = setTimeout(() => b.child.kill('SIGKILL'), 10_000);
      await b.exited;
      clearTimeout(timer);
    }),
  );
}

export async function postAlerts(bot: BotProcess, body: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${bot.url}/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${REPLICA_TOKEN}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

export interface TriageJson {
  id: string;
  node: string;
  status: string;
  startedAt: string | null;
  finishedAt: string | null;
  trigger: { kind: string; fingerprint?: string };
  verdict: { kind: string; summary: string; failure: { code: string } | null } | null;
}

export async function triagesOf(bot: BotProcess, query = 'limit=500'): Promise<TriageJson[]> {
  const res = await fetch(`${bot.url}/triages?${query}`);
  return ((await res.json()) as { triages: TriageJson[] }).triages;
}
