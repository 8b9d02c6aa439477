/**
 * The shared store: PostgreSQL (13 or later), for several replicas of the service on one database.
 *
 * When `storage.url` is set (postgres://user:password@host:5432/db, e.g. from ${PFT_DATABASE_URL}), every replica
 * pointing at it shares this store and `storage.path` is ignored. The URL's query parameters (sslmode…) go to
 * the driver as they are. Opening it applies this build's schema (versioned migrations in pg-schema.ts, in one
 * transaction under an advisory lock, so replicas that start together migrate once) and refuses a database a
 * newer build has written (store_schema_newer). Logs, doctor and metrics show the URL without its password
 * (`location`). The pool (`poolMax` connections, 10 by default) survives the database going away: calls made
 * meanwhile throw store_unavailable, and the pool reconnects by itself once the server is back.
 *
 * Whatever must hold across replicas is decided by the database in one statement or transaction: admission
 * under per-node advisory locks, claims with FOR UPDATE SKIP LOCKED, unique partial indexes as the last word.
 */
import type { TriageRecord, TriageResult, TriageStatus } from '../../model/triage.js';
import { verdictSchema, type Analysis, type Verdict, type VerdictKind } from '../../model/verdict.js';
import type { HistoryEntry, TriageContext } from '../../model/context.js';
import type { Log } from '../../log.js';
import {
  NOT_RUN_FOR_COOLDOWN,
  NOT_RUN_FOR_DEDUP,
  alertDedupKey,
  type AdmitResult,
  type AdmitRules,
  type AdmitStep,
  type Completion,
  type Lease,
  type Store,
  type StoreHealth,
} from '../store.js';
import { admitSteps, allDuplicates } from './pg-admit.js';
import { PgDb, redactUrl } from './pg-db.js';
import { PgDeliveries } from './pg-deliveries.js';
import { isUnavailable, isUniqueViolation, refused } from './pg-errors.js';
import { PgOutbox } from './pg-outbox.js';
import { COLUMNS, parseAnalysis, parseEvidence, toRecord, type TriageRow } from '../rows.js';
import { PG_SCHEMA_VERSION, migrate, schemaNewer, schemaVersion } from './pg-schema.js';

/** How often claimNext tries again after losing a race for a node to another replica. */
const CLAIM_ATTEMPTS = 5;

export interface PostgresStoreOptions {
  /** Connections in the pool (storage.poolMax). */
  poolMax?: number;
  log?: Log;
  /** Shown in pg_stat_activity, e.g. the replica's id. */
  applicationName?: string;
}

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly location: string;
  readonly outbox: PgOutbox;
  readonly deliveries: PgDeliveries;
  private readonly db: PgDb;
  private closed = false;

  private constructor(db: PgDb) {
    this.db = db;
    this.location = db.location;
    this.outbox = new PgOutbox(db);
    this.deliveries = new PgDeliveries(db);
  }

  /** Connects, migrates, and returns the store. Throws store_unavailable, or store_schema_newer. */
  static async open(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const db = new PgDb(url, redactUrl(url), opts);
    try {
      const client = await db.pool.connect().catch((err: unknown) => {
        throw db.translate('opening the store', err);
      });
      try {
        await migrate(client, db.location);
      } catch (err) {
        client.release(err instanceof Error ? err : true);
        if (isUnavailable(err)) throw db.translate('opening the store', err);
        throw refused('opening the store', db.location, err);
      }
      client.release();
    } catch (err) {
      await db.pool.end().catch(() => undefined);
      throw err;
    }
    return new PostgresStore(db);
  }

  get open(): boolean {
    return !this.closed;
  }

  async health(): Promise<StoreHealth> {
    let found: number;
    try {
      found = await schemaVersion(this.db.pool);
    } catch (err) {
      throw this.db.translate('reading the schema version', err);
    }
    if (found > PG_SCHEMA_VERSION) throw schemaNewer(this.location, found);
    return { schemaVersion: found, latestVersion: PG_SCHEMA_VERSION };
  }

  async admit(steps: readonly AdmitStep[], rules: AdmitRules, now: Date): Promise<AdmitResult[]> {
    // Alertmanager resends every notification until it resolves: most webhooks are duplicates, answered from one
    // read, without a transaction or locks.
    const db = this.db;
    const resent = await allDuplicates(async (sql, params) => (await db.query<{ dedup_key: string; id: string }>('admitting triages', sql, params)).rows, steps);
    return resent ?? db.tx('admitting triages', (c) => admitSteps(c, steps, rules, now));
  }

  /**
   * SKIP LOCKED passes over triages another replica is taking right now, so under contention null can mean "none
   * free at this instant" while others are still queued; callers poll (the dispatcher does every second).
   */
  async claimNext(lease: Lease, now: Date): Promise<TriageRecord | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await this.db.query<TriageRow>(
          'claiming a queued triage',
          `UPDATE triages SET status = 'running', started_at = $1, lease_owner = $2, lease_until_ms = $3, runs = runs + 1
           WHERE id = (SELECT t.id FROM triages t WHERE t.status = 'queued'
                       AND NOT EXISTS (SELECT 1 FROM triages r WHERE r.node = t.node AND r.status = 'running')
                       ORDER BY t.seq LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING ${COLUMNS}`,
          [now.toISOString(), lease.owner, lease.untilMs],
        );
        const row = r.rows[0];
        return row ? toRecord(row) : null;
      } catch (err) {
        // Another replica started a triage of the same node at the same moment: the index refused ours; look again.
        if (!isUniqueViolation(err, 'triages_one_running_per_node')) throw err;
        if (attempt >= CLAIM_ATTEMPTS) return null;
      }
    }
  }

  async renewLeases(owner: string, ids: readonly string[], untilMs: number): Promise<string[]> {
    if (ids.length === 0) return [];
    const r = await this.db.query<{ id: string }>(
      'renewing leases',
      `UPDATE triages SET lease_until_ms = $3 WHERE id = ANY($2) AND status = 'running' AND lease_owner = $1 RETURNING id`,
      [owner, [...ids], untilMs],
    );
    const held = new Set(r.rows.map((row) => row.id));
    return ids.filter((id) => held.has(id));
  }

  async expiredLeases(nowMs: number): Promise<TriageRecord[]> {
    // A running triage without a lease has no one renewing it: it counts as expired.
    const r = await this.db.query<TriageRow>(
      'reading expired leases',
      `SELECT ${COLUMNS} FROM triages WHERE status = 'running' AND COALESCE(lease_until_ms, 0) < $1 ORDER BY seq`,
      [nowMs],
    );
    return r.rows.map(toRecord);
  }

  async requeueExpired(id: string, nowMs: number): Promise<boolean> {
    const r = await this.db.query(
      'requeuing a triage',
      `UPDATE triages SET status = 'queued', started_at = NULL, lease_owner = NULL, lease_until_ms = NULL
       WHERE id = $1 AND status = 'running' AND COALESCE(lease_until_ms, 0) < $2`,
      [id, nowMs],
    );
    return r.rowCount === 1;
  }

  async runs(id: string): Promise<number> {
    const r = await this.db.query<{ runs: number }>('reading a triage', 'SELECT runs FROM triages WHERE id = $1', [id]);
    return r.rows[0]?.runs ?? 0;
  }

  async complete(id: string, owner: string, c: Completion): Promise<boolean> {
    const r = await this.db.query(
      'storing a finished triage',
      `UPDATE triages SET status = $3, finished_at = $4, verdict_kind = $5, failure_code = $6, verdict_json = $7, report_md = $8, result_json = $9,
                          lease_owner = NULL, lease_until_ms = NULL
       WHERE id = $1 AND status = 'running' AND lease_owner = $2`,
      [id, owner, c.status, c.finishedAt.toISOString(), c.verdict.kind, c.verdict.failure?.code ?? null, JSON.stringify(c.verdict), c.reportMarkdown, c.resultJson],
    );
    return r.rowCount === 1;
  }

  async fail(id: string, verdict: Verdict, at: Date, from: readonly TriageStatus[], owner?: string | null): Promise<boolean> {
    const others = from.filter((s) => s !== 'running');
    const args: unknown[] = [id, at.toISOString(), verdict.failure?.code ?? null, JSON.stringify(verdict), others];
    const states = ['status = ANY($5)'];
    if (from.includes('running')) {
      if (owner === undefined) states.push(`status = 'running'`);
      else if (owner === null) {
        args.push(at.getTime());
        states.push(`(status = 'running' AND COALESCE(lease_until_ms, 0) < $${args.length})`);
      } else {
        args.push(owner);
        states.push(`(status = 'running' AND lease_owner = $${args.length})`);
      }
    }
    const r = await this.db.query(
      'ending a triage',
      `UPDATE triages SET status = 'failed', finished_at = $2, verdict_kind = 'failed', failure_code = $3, verdict_json = $4,
                          lease_owner = NULL, lease_until_ms = NULL
       WHERE id = $1 AND (${states.join(' OR ')})`,
      args,
    );
    return r.rowCount === 1;
  }

  async get(id: string): Promise<TriageRecord | undefined> {
    const r = await this.db.query<TriageRow>('reading a triage', `SELECT ${COLUMNS} FROM triages WHERE id = $1`, [id]);
    const row = r.rows[0];
    return row && toRecord(row);
  }

  async list(filter: { node?: string | undefined; kind?: VerdictKind | undefined; limit: number; offset?: number }): Promise<TriageRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.node !== undefined) {
      args.push(filter.node);
      where.push(`node = $${args.length}`);
    }
    if (filter.kind !== undefined) {
      args.push(filter.kind);
      where.push(`verdict_kind = $${args.length}`);
    }
    args.push(filter.limit, filter.offset ?? 0);
    const r = await this.db.query<TriageRow>(
      'listing triages',
      `SELECT ${COLUMNS} FROM triages ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${args.length - 1} OFFSET $${args.length}`,
      args,
    );
    return r.rows.map(toRecord);
  }

  async history(node: string, since: Date, limit: number): Promise<HistoryEntry[]> {
    const r = await this.db.query<{ id: string; finished_at: string | null; verdict_json: string | null }>(
      "reading a node's history",
      `SELECT id, finished_at, verdict_json FROM triages WHERE node = $1 AND status IN ('done', 'failed') AND created_ms >= $2
       AND NOT (status = 'failed' AND failure_code = ANY($3))
       ORDER BY seq DESC LIMIT $4`,
      [node, since.getTime(), [...NOT_RUN_FOR_COOLDOWN], limit],
    );
    return r.rows.flatMap((row) => {
      const v = row.verdict_json === null ? null : verdictSchema.parse(JSON.parse(row.verdict_json));
      if (!v || row.finished_at === null) return [];
      return [{ id: row.id, finishedAt: row.finished_at, kind: v.kind, pid: v.pid, comm: v.comm, path: v.path }];
    });
  }

  async setContext(id: string, context: TriageContext): Promise<void> {
    await this.db.query("recording a triage's context", 'UPDATE triages SET context_json = $2 WHERE id = $1', [id, JSON.stringify(context)]);
  }

  async report(id: string): Promise<string | undefined> {
    const r = await this.db.query<{ report_md: string | null }>('reading a report', 'SELECT report_md FROM triages WHERE id = $1', [id]);
    return r.rows[0]?.report_md ?? undefined;
  }

  async result(id: string): Promise<string | undefined> {
    const r = await this.db.query<{ result_json: string | null }>('reading evidence', 'SELECT result_json FROM triages WHERE id = $1', [id]);
    return r.rows[0]?.result_json ?? undefined;
  }

  async evidence(id: string): Promise<TriageResult | null> {
    return parseEvidence(await this.result(id));
  }

  async analysis(id: string): Promise<Analysis | null> {
    return parseAnalysis(await this.result(id));
  }

  async findByDedupKey(key: string): Promise<TriageRecord | undefined> {
    const r = await this.db.query<TriageRow>(
      'reading a triage',
      `SELECT ${COLUMNS} FROM triages WHERE dedup_key = $1 AND (failure_code IS NULL OR NOT (failure_code = ANY($2))) ORDER BY seq DESC LIMIT 1`,
      [key, [...NOT_RUN_FOR_DEDUP]],
    );
    const row = r.rows[0];
    return row && toRecord(row);
  }

  async queuedCount(): Promise<number> {
    const r = await this.db.query<{ n: number }>('counting queued triages', `SELECT COUNT(*) AS n FROM triages WHERE status = 'queued'`);
    return r.rows[0]!.n;
  }

  async unfinished(): Promise<TriageRecord[]> {
    const r = await this.db.query<TriageRow>('listing unfinished triages', `SELECT ${COLUMNS} FROM triages WHERE status IN ('queued', 'running') ORDER BY seq`);
    return r.rows.map(toRecord);
  }

  async latestForAlert(node: string, fingerprint: string, startsAt: string): Promise<TriageRecord | undefined> {
    const r = await this.db.query<TriageRow>(
      "reading an alert's triage",
      `SELECT ${COLUMNS} FROM triages WHERE node = $1 AND dedup_key = $2 ORDER BY seq DESC LIMIT 1`,
      [node, alertDedupKey(fingerprint, startsAt)],
    );
    const row = r.rows[0];
    return row && toRecord(row);
  }

  prune(before: Date): Promise<number> {
    const ms = before.getTime();
    return this.db.tx('pruning old triages', async (c) => {
      // Rows without a triage (ephemeral answers) go by age; a triage's rows go with it (ON DELETE CASCADE).
      await c.query(`DELETE FROM slack_outbox WHERE triage_id IS NULL AND state != 'pending' AND created_ms < $1`, [ms]);
      await c.query('DELETE FROM slack_deliveries WHERE created_ms < $1', [ms]);
      const r = await c.query(`DELETE FROM triages WHERE created_ms < $1 AND status IN ('done', 'failed')`, [ms]);
      return r.rowCount ?? 0;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.pool.end();
  }
}
