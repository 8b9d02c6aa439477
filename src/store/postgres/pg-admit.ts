import type { Verdict } from '../../model/verdict.js';
import type { Trigger, RunOptions } from '../../model/triage.js';
import { NOT_RUN_FOR_COOLDOWN, NOT_RUN_FOR_DEDUP, type AdmitResult, type AdmitRules, type AdmitStep } from '../store.js';
import type { Queryable } from './pg-db.js';

/**
 * Admission in one transaction, in few round trips whatever the batch's size (a storm is one webhook of hundreds
 * of alerts). Each node of the batch is locked first (transaction-scoped advisory locks, taken in sorted order so
 * two batches never wait on each other in a cycle); then what the rules need is read once for the whole batch
 * (the notifications already triaged, each node's last automatic triage and its pending one, the queue's length),
 * the steps are decided in order in memory, and the triages they queue are written together. A cancel step is
 * written where it stands, after the triages queued before it.
 */
export async function admitSteps(c: Queryable, steps: readonly AdmitStep[], rules: AdmitRules, now: Date): Promise<AdmitResult[]> {
  const nodes = [...new Set(steps.map((s) => s.node))].sort();
  await c.query(
    `SELECT pg_advisory_xact_lock(k) FROM (SELECT hashtext('pft-node:' || n) AS k, n FROM unnest($1::text[]) AS n ORDER BY n) AS locks`,
    [nodes],
  );
  const alerts = steps.filter((s): s is Extract<AdmitStep, { op: 'alert' }> => s.op === 'alert');
  // Consistent with triages_one_per_notification: a triage that never ran does not hold the notification.
  const seen = new Map(
    (
      await c.query<{ dedup_key: string; id: string }>(
        `SELECT DISTINCT ON (dedup_key) dedup_key, id FROM triages WHERE dedup_key = ANY($1)
         AND (failure_code IS NULL OR NOT (failure_code = ANY($2))) ORDER BY dedup_key, seq DESC`,
        [alerts.map((s) => s.dedupKey), NOT_RUN_FOR_DEDUP],
      )
    ).rows.map((r) => [r.dedup_key, r.id]),
  );
  const cooling = new Map<string, { id: string; createdAt: string }>();
  if (rules.cooldownMs > 0 && alerts.length > 0) {
    const r = await c.query<{ node: string; id: string; created_at: string }>(
      `SELECT DISTINCT ON (node) node, id, created_at FROM triages WHERE node = ANY($1) AND trigger_kind = 'alert' AND created_ms >= $2
       AND NOT (status = 'failed' AND failure_code = ANY($3)) ORDER BY node, seq DESC`,
      [[...new Set(alerts.map((s) => s.node))], now.getTime() - rules.cooldownMs, NOT_RUN_FOR_COOLDOWN],
    );
    for (const row of r.rows) cooling.set(row.node, { id: row.id, createdAt: row.created_at });
  }
  const manualNodes = [...new Set(steps.filter((s) => s.op === 'manual').map((s) => s.node))];
  const pending = new Map<string, string>();
  if (manualNodes.length > 0) {
    const r = await c.query<{ node: string; id: string }>(
      `SELECT DISTINCT ON (node) node, id FROM triages WHERE node = ANY($1) AND status IN ('queued', 'running') ORDER BY node, seq`,
      [manualNodes],
    );
    for (const row of r.rows) pending.set(row.node, row.id);
  }

  const out: AdmitResult[] = [];
  const rows: NewRow[] = [];
  /** The queue's length, counted at the first triage to place (under the queue lock) and kept in step after. */
  const queue: { n: number | null } = { n: null };
  const place = async (t: NewRow): Promise<'queued' | 'dropped'> => {
    queue.n ??= await queuedCount(c);
    const full = queue.n >= rules.maxQueued;
    rows.push({ ...t, dropped: full ? t.dropped : null });
    if (full) return 'dropped';
    queue.n++;
    if (!pending.has(t.node)) pending.set(t.node, t.id);
    return 'queued';
  };
  for (const step of steps) {
    if (step.op === 'cancel') {
      await write(c, rows.splice(0), now);
      const cancelled = await cancel(c, step.node, step.fingerprint, step.verdict, now);
      if (queue.n !== null) queue.n -= cancelled.length;
      if (cancelled.includes(pending.get(step.node) ?? '')) pending.delete(step.node);
      out.push({ op: 'cancel', cancelled });
    } else if (step.op === 'alert') {
      const dup = seen.get(step.dedupKey);
      if (dup !== undefined) {
        out.push({ op: 'alert', status: 'duplicate', id: dup });
        continue;
      }
      const last = cooling.get(step.node);
      if (last) {
        out.push({ op: 'alert', status: 'cooldown', id: last.id, createdAt: last.createdAt });
        continue;
      }
      const status = await place({ id: step.id, node: step.node, trigger: step.trigger, options: {}, dedupKey: step.dedupKey, dropped: step.dropped });
      // A dropped triage neither holds the notification nor cools the node down (it never ran).
      if (status === 'queued') {
        seen.set(step.dedupKey, step.id);
        if (rules.cooldownMs > 0) cooling.set(step.node, { id: step.id, createdAt: now.toISOString() });
      }
      out.push({ op: 'alert', status, id: step.id });
    } else {
      const first = pending.get(step.node);
      if (first !== undefined) {
        out.push({ op: 'manual', status: 'duplicate', id: first });
        continue;
      }
      out.push({ op: 'manual', status: await place({ id: step.id, node: step.node, trigger: step.trigger, options: step.options, dedupKey: null, dropped: step.dropped }), id: step.id });
    }
  }
  await write(c, rows, now);
  return out;
}

/**
 * The fast path for a resent notification: when every step is an alert already triaged, the answer is read in one
 * query, without a transaction or locks. Null when any step needs the full admission.
 */
export async function allDuplicates(read: (sql: string, params: unknown[]) => Promise<{ dedup_key: string; id: string }[]>, steps: readonly AdmitStep[]): Promise<AdmitResult[] | null> {
  if (steps.length === 0 || steps.some((s) => s.op !== 'alert')) return null;
  const keys = steps.map((s) => (s as Extract<AdmitStep, { op: 'alert' }>).dedupKey);
  const rows = await read(
    `SELECT DISTINCT ON (dedup_key) dedup_key, id FROM triages WHERE dedup_key = ANY($1)
     AND (failure_code IS NULL OR NOT (failure_code = ANY($2))) ORDER BY dedup_key, seq DESC`,
    [keys, NOT_RUN_FOR_DEDUP],
  );
  const seen = new Map(rows.map((row) => [row.dedup_key, row.id]));
  if (!keys.every((k) => seen.has(k))) return null;
  return keys.map((k) => ({ op: 'alert', status: 'duplicate', id: seen.get(k)! }));
}

interface NewRow {
  id: string;
  node: string;
  trigger: Trigger;
  options: RunOptions;
  dedupKey: string | null;
  /** Set when the queue was full: the triage is recorded failed with this verdict. */
  dropped: Verdict | null;
}

async function queuedCount(c: Queryable): Promise<number> {
  // The limit is over every replica's admissions: count under a lock taken after the node locks (always last,
  // so no cycle), held to commit.
  await c.query('SELECT pg_advisory_xact_lock($1)', [QUEUE_LOCK_KEY]);
  return (await c.query<{ n: number }>(`SELECT COUNT(*) AS n FROM triages WHERE status = 'queued'`)).rows[0]!.n;
}

/** Writes the decided triages in one statement, in their order (seq follows it). */
async function write(c: Queryable, rows: readonly NewRow[], now: Date): Promise<void> {
  if (rows.length === 0) return;
  const at = now.toISOString();
  await c.query(
    `INSERT INTO triages (id, node, trigger_kind, trigger_json, options_json, dedup_key, status, created_at, created_ms,
                          finished_at, verdict_kind, failure_code, verdict_json)
     SELECT r.id, r.node, r.trigger_kind, r.trigger_json, r.options_json, r.dedup_key,
            CASE WHEN r.verdict_json IS NULL THEN 'queued' ELSE 'failed' END, $1, $2,
            CASE WHEN r.verdict_json IS NULL THEN NULL ELSE $1 END,
            CASE WHEN r.verdict_json IS NULL THEN NULL ELSE 'failed' END, r.failure_code, r.verdict_json
     FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
          WITH ORDINALITY AS r(id, node, trigger_kind, trigger_json, options_json, dedup_key, failure_code, verdict_json, ord)
     ORDER BY r.ord`,
    [
      at,
      now.getTime(),
      rows.map((r) => r.id),
      rows.map((r) => r.node),
      rows.map((r) => r.trigger.kind),
      rows.map((r) => JSON.stringify(r.trigger)),
      rows.map((r) => JSON.stringify(r.options)),
      rows.map((r) => r.dedupKey),
      rows.map((r) => r.dropped?.failure?.code ?? null),
      rows.map((r) => (r.dropped ? JSON.stringify(r.dropped) : null)),
    ],
  );
}

/** Any fixed number, distinct from the migration lock's. */
const QUEUE_LOCK_KEY = 7_150_318_843;

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
