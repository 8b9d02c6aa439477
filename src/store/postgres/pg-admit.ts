import type { Verdict } from '../../model/verdict.js';
import type { Trigger, RunOptions } from '../../model/triage.js';
import { NOT_RUN_FOR_COOLDOWN, NOT_RUN_FOR_DEDUP, type AdmitResult, type AdmitRules, type AdmitStep } from '../store.js';
import type { Queryable } from './pg-db.js';

/**
 * Admission in one transaction. Each node of the batch is locked first (a transaction-scoped advisory lock, taken
 * in sorted order so two batches never wait on each other in a cycle): dedup, cooldown and "one queued or running
 * manual triage per node" then read a node nobody else is admitting to at the same moment. The queue limit is
 * counted under one more lock, taken last.
 */
export async function admitSteps(c: Queryable, steps: readonly AdmitStep[], rules: AdmitRules, now: Date): Promise<AdmitResult[]> {
  const nodes = [...new Set(steps.map((s) => s.node))].sort();
  for (const node of nodes) await c.query(`SELECT pg_advisory_xact_lock(hashtext('pft-node:' || $1))`, [node]);

  const out: AdmitResult[] = [];
  for (const step of steps) {
    if (step.op === 'cancel') {
      out.push({ op: 'cancel', cancelled: await cancel(c, step.node, step.fingerprint, step.verdict, now) });
    } else if (step.op === 'alert') {
      // Consistent with triages_one_per_notification: a triage that never ran does not hold the notification.
      const seen = await c.query<{ id: string }>(
        `SELECT id FROM triages WHERE dedup_key = $1 AND (failure_code IS NULL OR NOT (failure_code = ANY($2))) ORDER BY seq DESC LIMIT 1`,
        [step.dedupKey, NOT_RUN_FOR_DEDUP],
      );
      if (seen.rows[0]) {
        out.push({ op: 'alert', status: 'duplicate', id: seen.rows[0].id });
        continue;
      }
      if (rules.cooldownMs > 0) {
        const last = await c.query<{ id: string; created_at: string }>(
          `SELECT id, created_at FROM triages WHERE node = $1 AND trigger_kind = 'alert' AND created_ms >= $2
           AND NOT (status = 'failed' AND failure_code = ANY($3)) ORDER BY seq DESC LIMIT 1`,
          [step.node, now.getTime() - rules.cooldownMs, NOT_RUN_FOR_COOLDOWN],
        );
        if (last.rows[0]) {
          out.push({ op: 'alert', status: 'cooldown', id: last.rows[0].id, createdAt: last.rows[0].created_at });
          continue;
        }
      }
      out.push({ op: 'alert', status: await insert(c, step, rules, now, {}, step.dedupKey), id: step.id });
    } else {
      const pending = await c.query<{ id: string }>(`SELECT id FROM triages WHERE node = $1 AND status IN ('queued', 'running') ORDER BY seq LIMIT 1`, [step.node]);
      if (pending.rows[0]) {
        out.push({ op: 'manual', status: 'duplicate', id: pending.rows[0].id });
        continue;
      }
      out.push({ op: 'manual', status: await insert(c, step, rules, now, step.options, null), id: step.id });
    }
  }
  return out;
}

/** Any fixed number, distinct from the migration lock's. */
const QUEUE_LOCK_KEY = 7_150_318_843;

/** Queues the triage, or records it as dropped (failed, queue_full) when the store's queue is full. */
async function insert(
  c: Queryable,
  t: { id: string; node: string; trigger: Trigger; dropped: Verdict },
  rules: AdmitRules,
  now: Date,
  options: RunOptions,
  dedupKey: string | null,
): Promise<'queued' | 'dropped'> {
  // The limit is over every replica's admissions: count under a lock taken after the node locks (always last,
  // so no cycle), held to commit. Re-taking it in the same transaction is free.
  await c.query('SELECT pg_advisory_xact_lock($1)', [QUEUE_LOCK_KEY]);
  const queued = await c.query<{ n: number }>(`SELECT COUNT(*) AS n FROM triages WHERE status = 'queued'`);
  const at = now.toISOString();
  const base = [t.id, t.node, t.trigger.kind, JSON.stringify(t.trigger), JSON.stringify(options), dedupKey, at, now.getTime()];
  if (queued.rows[0]!.n >= rules.maxQueued) {
    await c.query(
      `INSERT INTO triages (id, node, trigger_kind, trigger_json, options_json, dedup_key, status, created_at, created_ms,
                            finished_at, verdict_kind, failure_code, verdict_json)
       VALUES ($1, $2, $3, $4, $5, $6, 'failed', $7, $8, $7, 'failed', $9, $10)`,
      [...base, t.dropped.failure?.code ?? null, JSON.stringify(t.dropped)],
    );
    return 'dropped';
  }
  await c.query(
    `INSERT INTO triages (id, node, trigger_kind, trigger_json, options_json, dedup_key, status, created_at, created_ms)
     VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8)`,
    base,
  );
  return 'queued';
}

/** The node's queued automatic triages of this alert become failed (cancelled); running ones go on. Oldest first. */
async function cancel(c: Queryable, node: string, fingerprint: string, verdict: Verdict, now: Date): Promise<string[]> {
  const r = await c.query<{ id: string; seq: number }>(
    `UPDATE triages SET status = 'failed', finished_at = $3, verdict_kind = 'failed', failure_code = $4, verdict_json = $5
     WHERE node = $1 AND status = 'queued' AND trigger_kind = 'alert' AND (trigger_json::jsonb ->> 'fingerprint') = $2
     RETURNING id, seq`,
    [node, fingerprint, now.toISOString(), verdict.failure?.code ?? null, JSON.stringify(verdict)],
  );
  return r.rows.sort((a, b) => a.seq - b.seq).map((row) => row.id);
}
