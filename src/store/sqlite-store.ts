import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { TriageError } from '../errors.js';
import {
  type RunOptions,
  type TriageRecord,
  type TriageResult,
  type TriageStatus,
  type Trigger,
} from '../model/triage.js';
import { verdictSchema, type Analysis, type Verdict, type VerdictKind } from '../model/verdict.js';
import type { HistoryEntry, TriageContext } from '../model/context.js';
import { COLUMNS, parseAnalysis, parseEvidence, toRecord, type TriageRow as Row } from './rows.js';
import { SlackDeliveries } from './slack-deliveries.js';
import { SlackOutbox } from './slack-outbox.js';
import {
  alertDedupKey,
  NOT_RUN_FOR_COOLDOWN,
  NOT_RUN_FOR_DEDUP,
  type AdmitResult,
  type AdmitRules,
  type AdmitStep,
  type Completion,
  type Lease,
  type Store,
  type StoreHealth,
} from './store.js';

/**
 * The embedded store: one SQLite file (WAL) under `storage.path` holding every triage, its verdict, its Markdown
 * report and its raw evidence (the TriageResult JSON), for one process. better-sqlite3 is synchronous: each method
 * is one statement or one transaction that nothing can interleave with, wrapped in a promise for the Store contract.
 */

interface NewTriage {
  id: string;
  node: string;
  trigger: Trigger;
  options?: RunOptions;
  /** fingerprint + startsAt for alert triggers. */
  dedupKey: string | null;
  createdAt: Date;
}

const MIGRATION_1 = `
CREATE TABLE triages (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  id           TEXT NOT NULL UNIQUE,
  node         TEXT NOT NULL,
  trigger_kind TEXT NOT NULL,
  trigger_json TEXT NOT NULL,
  options_json TEXT NOT NULL DEFAULT '{}',
  dedup_key    TEXT,
  status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
  created_at   TEXT NOT NULL,
  created_ms   INTEGER NOT NULL,
  started_at   TEXT,
  finished_at  TEXT,
  verdict_kind TEXT,
  failure_code TEXT,
  verdict_json TEXT,
  report_md    TEXT,
  result_json  TEXT
);
CREATE INDEX triages_by_node ON triages (node, seq);
CREATE INDEX triages_by_dedup ON triages (dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX triages_unfinished ON triages (status) WHERE status IN ('queued', 'running');
CREATE INDEX triages_by_created ON triages (created_ms);
`;

/**
 * Slack: the bot's message per triage (so the verdict can update it and replies can thread under it),
 * its delivery state, and the outbox every Slack call is recorded in before it is made.
 */
const MIGRATION_2 = `
ALTER TABLE triages ADD COLUMN slack_channel TEXT;
ALTER TABLE triages ADD COLUMN slack_ts TEXT;
ALTER TABLE triages ADD COLUMN slack_state TEXT CHECK (slack_state IN ('pending', 'sent', 'failed'));
ALTER TABLE triages ADD COLUMN slack_error TEXT;
CREATE TABLE slack_outbox (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  triage_id  TEXT REFERENCES triages (id) ON DELETE CASCADE,
  purpose    TEXT NOT NULL,
  call_json  TEXT NOT NULL,
  state      TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
  attempts   INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  next_ms    INTEGER NOT NULL,
  done_ms    INTEGER,
  last_error TEXT
);
CREATE INDEX slack_outbox_pending ON slack_outbox (next_ms) WHERE state = 'pending';
CREATE INDEX slack_outbox_by_triage ON slack_outbox (triage_id, seq);
`;

/**
 * Context: the node's earlier triages (and what else was known) as the triage saw them, and an index for the
 * index page's and the history's lookups of a node's finished triages by verdict.
 */
const MIGRATION_3 = `
ALTER TABLE triages ADD COLUMN context_json TEXT;
CREATE INDEX triages_by_kind ON triages (verdict_kind, seq) WHERE verdict_kind IS NOT NULL;
`;

/**
 * The triage an alert firing started, by node and dedup key (fingerprint + startsAt): each resolved alert looks
 * it up, and without this index that read every row of the node (json_extract on each), synchronously.
 */
const MIGRATION_4 = `
CREATE INDEX triages_by_node_alert ON triages (node, dedup_key, seq) WHERE dedup_key IS NOT NULL;
`;

/**
 * Slack, exactly once: `unsure_ms` marks an outbox post whose outcome the bot never saw (a timeout, a crash
 * mid-call), so the next attempt first looks for the message in the channel; `slack_deliveries` holds every
 * Socket Mode envelope already handled, with its answer, so a redelivered one starts nothing twice.
 */
const MIGRATION_5 = `
ALTER TABLE slack_outbox ADD COLUMN unsure_ms INTEGER;
CREATE TABLE slack_deliveries (
  key         TEXT PRIMARY KEY,
  answer_json TEXT,
  created_ms  INTEGER NOT NULL
);
CREATE INDEX slack_deliveries_by_created ON slack_deliveries (created_ms);
`;

/**
 * Several replicas (the same rules hold on the embedded store): a running triage is held by a lease its process
 * renews; each Slack call is claimed by one process while it is made; the database itself refuses a second
 * running triage on a node, a second triage for one notification, and a second message of one kind per triage.
 */
const MIGRATION_6 = `
ALTER TABLE triages ADD COLUMN lease_owner TEXT;
ALTER TABLE triages ADD COLUMN lease_until_ms INTEGER;
ALTER TABLE triages ADD COLUMN runs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE slack_outbox ADD COLUMN claim_owner TEXT;
ALTER TABLE slack_outbox ADD COLUMN claim_until_ms INTEGER;
CREATE UNIQUE INDEX triages_one_running_per_node ON triages (node) WHERE status = 'running';
CREATE UNIQUE INDEX triages_one_per_notification ON triages (dedup_key)
  WHERE dedup_key IS NOT NULL AND (failure_code IS NULL OR failure_code NOT IN ('interrupted', 'queue_full'));
CREATE UNIQUE INDEX slack_outbox_once ON slack_outbox (triage_id, purpose) WHERE triage_id IS NOT NULL;
`;

/** Index i brings a store from schema version i to i + 1. Append only. */
export const MIGRATIONS: readonly string[] = [MIGRATION_1, MIGRATION_2, MIGRATION_3, MIGRATION_4, MIGRATION_5, MIGRATION_6];

const SCHEMA_VERSION = MIGRATIONS.length;

const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

const isUniqueViolation = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === 'SQLITE_CONSTRAINT_UNIQUE';

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly file: string;
  readonly location: string;
  /** Slack calls waiting to be made (src/notify/slack/worker.ts delivers them). */
  readonly outbox: SlackOutbox;
  /** Slack envelopes already handled (Socket Mode redelivers unacknowledged ones). */
  readonly deliveries: SlackDeliveries;
  private readonly db: Database.Database;

  /** Prepared once, reused: preparing on every webhook was the store's largest cost (see bench). */
  private readonly statements = new Map<string, Database.Statement>();

  private stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  private constructor(file: string, db: Database.Database) {
    this.file = file;
    this.location = file;
    this.db = db;
    this.outbox = new SlackOutbox(db);
    this.deliveries = new SlackDeliveries(db);
  }

  /** Opens (creating if needed) `<dir>/triages.sqlite`. Throws TriageError('store_unavailable' or 'store_schema_newer'). */
  static open(dir: string): SqliteStore {
    const file = join(dir, 'triages.sqlite');
    try {
      mkdirSync(dir, { recursive: true });
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = ON');
      SqliteStore.migrate(db, file);
      return new SqliteStore(file, db);
    } catch (err) {
      if (err instanceof TriageError) throw err;
      throw new TriageError('store_unavailable', `cannot open the store ${file}: ${(err as Error).message}`, { cause: err });
    }
  }

  private static migrate(db: Database.Database, file: string): void {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      db.close();
      throw new TriageError(
        'store_schema_newer',
        `the store ${file} has schema ${version}; this pagefault-triage knows ${SCHEMA_VERSION}: upgrade it (or point storage.path elsewhere)`,
      );
    }
    if (version < SCHEMA_VERSION) {
      db.transaction(() => {
        for (const sql of MIGRATIONS.slice(version)) db.exec(sql);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      })();
    }
  }

  get open(): boolean {
    return this.db.open;
  }

  async health(): Promise<StoreHealth> {
    try {
      return { schemaVersion: this.db.pragma('user_version', { simple: true }) as number, latestVersion: SCHEMA_VERSION };
    } catch (err) {
      throw new TriageError('store_unavailable', `cannot read the store ${this.file}: ${(err as Error).message}`, { cause: err });
    }
  }

  private insertQueued(t: NewTriage): void {
    this
      .stmt(
        `INSERT INTO triages (id, node, trigger_kind, trigger_json, options_json, dedup_key, status, created_at, created_ms)
         VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)`,
      )
      .run(t.id, t.node, t.trigger.kind, JSON.stringify(t.trigger), JSON.stringify(t.options ?? {}), t.dedupKey, t.createdAt.toISOString(), t.createdAt.getTime());
  }

  /** Records a triage that was refused before it could queue (queue full): never silently lost. */
  private insertFailed(t: NewTriage, verdict: Verdict): void {
    const at = t.createdAt.toISOString();
    this
      .stmt(
        `INSERT INTO triages (id, node, trigger_kind, trigger_json, options_json, dedup_key, status, created_at, created_ms,
                              finished_at, verdict_kind, failure_code, verdict_json)
         VALUES (?, ?, ?, ?, ?, ?, 'failed', ?, ?, ?, 'failed', ?, ?)`,
      )
      .run(
        t.id, t.node, t.trigger.kind, JSON.stringify(t.trigger), JSON.stringify(t.options ?? {}), t.dedupKey, at,
        t.createdAt.getTime(), at, verdict.failure?.code ?? null, JSON.stringify(verdict),
      );
  }

  async queuedCount(): Promise<number> {
    return this.queuedNow();
  }

  private queuedNow(): number {
    return (this.stmt(`SELECT COUNT(*) AS n FROM triages WHERE status = 'queued'`).get() as { n: number }).n;
  }

  async admit(steps: readonly AdmitStep[], rules: AdmitRules, now: Date): Promise<AdmitResult[]> {
    return this.db.transaction(() => steps.map((step) => this.admitStep(step, rules, now)))();
  }

  private admitStep(step: AdmitStep, rules: AdmitRules, now: Date): AdmitResult {
    switch (step.op) {
      case 'cancel': {
        // `+node`: search the few unfinished triages (triages_unfinished), not the node's whole history
        // (triages_by_node), which SQLite would otherwise pick: every resolved alert runs this.
        const ids = (
          this
            .stmt(
              `SELECT id, trigger_json FROM triages WHERE +node = ? AND status IN ('queued', 'running') AND status = 'queued' AND trigger_kind = 'alert' ORDER BY seq`,
            )
            .all(step.node) as { id: string; trigger_json: string }[]
        )
          .filter((r) => (JSON.parse(r.trigger_json) as { fingerprint?: unknown }).fingerprint === step.fingerprint)
          .map((r) => r.id);
        const cancelled = ids.filter((id) => this.failNow(id, step.verdict, now, ['queued'], undefined));
        return { op: 'cancel', cancelled };
      }
      case 'alert': {
        const seen = this.findByDedupKeyNow(step.dedupKey);
        if (seen) return { op: 'alert', status: 'duplicate', id: seen.id };
        if (rules.cooldownMs > 0) {
          const last = this.lastAutomatic(step.node, new Date(now.getTime() - rules.cooldownMs));
          if (last) return { op: 'alert', status: 'cooldown', id: last.id, createdAt: last.createdAt };
        }
        const row = { id: step.id, node: step.node, trigger: step.trigger, dedupKey: step.dedupKey, createdAt: now };
        if (this.queuedNow() >= rules.maxQueued) {
          this.insertFailed(row, step.dropped);
          return { op: 'alert', status: 'dropped', id: step.id };
        }
        this.insertQueued(row);
        return { op: 'alert', status: 'queued', id: step.id };
      }
      case 'manual': {
        // `+node`, as for cancel: the unfinished triages, not the node's history.
        const pending = this.stmt(`SELECT id FROM triages WHERE +node = ? AND status IN ('queued', 'running') ORDER BY seq LIMIT 1`).get(step.node) as
          | { id: string }
          | undefined;
        if (pending) return { op: 'manual', status: 'duplicate', id: pending.id };
        const row = { id: step.id, node: step.node, trigger: step.trigger, options: step.options, dedupKey: null, createdAt: now };
        if (this.queuedNow() >= rules.maxQueued) {
          this.insertFailed(row, step.dropped);
          return { op: 'manual', status: 'dropped', id: step.id };
        }
        this.insertQueued(row);
        return { op: 'manual', status: 'queued', id: step.id };
      }
    }
  }

  async claimNext(lease: Lease, now: Date): Promise<TriageRecord | null> {
    // One process writes an embedded store, so the unique index never fires here; it is kept for the contract.
    try {
      const row = this
        .stmt(
          `UPDATE triages SET status = 'running', started_at = ?, lease_owner = ?, lease_until_ms = ?, runs = runs + 1
           WHERE id = (SELECT id FROM triages t WHERE status = 'queued'
                       AND NOT EXISTS (SELECT 1 FROM triages r WHERE r.node = t.node AND r.status = 'running')
                       ORDER BY seq LIMIT 1)
           RETURNING ${COLUMNS}`,
        )
        .get(now.toISOString(), lease.owner, lease.untilMs) as Row | undefined;
      return row ? toRecord(row) : null;
    } catch (err) {
      if (isUniqueViolation(err)) return null;
      throw err;
    }
  }

  async renewLeases(owner: string, ids: readonly string[], untilMs: number): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = this
      .stmt(
        `UPDATE triages SET lease_until_ms = ? WHERE status = 'running' AND lease_owner = ? AND id IN (${placeholders(ids.length)}) RETURNING id`,
      )
      .all(untilMs, owner, ...ids) as { id: string }[];
    return rows.map((r) => r.id);
  }

  async expiredLeases(nowMs: number): Promise<TriageRecord[]> {
    const rows = this.stmt(`SELECT ${COLUMNS} FROM triages WHERE status = 'running' AND COALESCE(lease_until_ms, 0) < ? ORDER BY seq`).all(nowMs) as Row[];
    return rows.map(toRecord);
  }

  async requeueExpired(id: string, nowMs: number): Promise<boolean> {
    return (
      this
        .stmt(
          `UPDATE triages SET status = 'queued', started_at = NULL, lease_owner = NULL, lease_until_ms = NULL
           WHERE id = ? AND status = 'running' AND COALESCE(lease_until_ms, 0) < ?`,
        )
        .run(id, nowMs).changes === 1
    );
  }

  async runs(id: string): Promise<number> {
    const r = this.stmt('SELECT runs FROM triages WHERE id = ?').get(id) as { runs: number } | undefined;
    return r?.runs ?? 0;
  }

  async complete(id: string, owner: string, c: Completion): Promise<boolean> {
    return (
      this
        .stmt(
          `UPDATE triages SET status = ?, finished_at = ?, verdict_kind = ?, failure_code = ?, verdict_json = ?, report_md = ?, result_json = ?,
                              lease_owner = NULL, lease_until_ms = NULL
           WHERE id = ? AND status = 'running' AND lease_owner = ?`,
        )
        .run(c.status, c.finishedAt.toISOString(), c.verdict.kind, c.verdict.failure?.code ?? null, JSON.stringify(c.verdict), c.reportMarkdown, c.resultJson, id, owner)
        .changes === 1
    );
  }

  async fail(id: string, verdict: Verdict, at: Date, from: readonly TriageStatus[], owner?: string | null): Promise<boolean> {
    return this.failNow(id, verdict, at, from, owner);
  }

  private failNow(id: string, verdict: Verdict, at: Date, from: readonly TriageStatus[], owner: string | null | undefined): boolean {
    const others = from.filter((s) => s !== 'running');
    const states: string[] = others.map(() => 'status = ?');
    const args: (string | number)[] = [...others];
    if (from.includes('running')) {
      if (owner === undefined) states.push(`status = 'running'`);
      else if (owner === null) {
        states.push(`(status = 'running' AND COALESCE(lease_until_ms, 0) < ?)`);
        args.push(at.getTime());
      } else {
        states.push(`(status = 'running' AND lease_owner = ?)`);
        args.push(owner);
      }
    }
    if (states.length === 0) return false;
    return (
      this
        .stmt(
          `UPDATE triages SET status = 'failed', finished_at = ?, verdict_kind = 'failed', failure_code = ?, verdict_json = ?,
                              lease_owner = NULL, lease_until_ms = NULL
           WHERE id = ? AND (${states.join(' OR ')})`,
        )
        .run(at.toISOString(), verdict.failure?.code ?? null, JSON.stringify(verdict), id, ...args).changes === 1
    );
  }

  async get(id: string): Promise<TriageRecord | undefined> {
    const row = this.stmt(`SELECT ${COLUMNS} FROM triages WHERE id = ?`).get(id) as Row | undefined;
    return row && toRecord(row);
  }

  /** Newest first; `kind` keeps triages with that verdict, `offset` skips that many (pages of the index). */
  async list(filter: { node?: string | undefined; kind?: VerdictKind | undefined; limit: number; offset?: number }): Promise<TriageRecord[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.node !== undefined) {
      where.push('node = ?');
      args.push(filter.node);
    }
    if (filter.kind !== undefined) {
      where.push('verdict_kind = ?');
      args.push(filter.kind);
    }
    const sql = `SELECT ${COLUMNS} FROM triages ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ? OFFSET ?`;
    const rows = this.stmt(sql).all(...args, filter.limit, filter.offset ?? 0) as Row[];
    return rows.map(toRecord);
  }

  /**
   * The node's finished triages created at or after `since`, newest first, that really looked at the node (not
   * the ones that never ran: interrupted, dropped, cancelled). Uses the (node, seq) index and stops at `limit`.
   */
  async history(node: string, since: Date, limit: number): Promise<HistoryEntry[]> {
    const rows = this
      .stmt(
        `SELECT id, finished_at, verdict_json FROM triages WHERE node = ? AND status IN ('done', 'failed') AND created_ms >= ?
         AND NOT (status = 'failed' AND failure_code IN (${placeholders(NOT_RUN_FOR_COOLDOWN.length)}))
         ORDER BY seq DESC LIMIT ?`,
      )
      .all(node, since.getTime(), ...NOT_RUN_FOR_COOLDOWN, limit) as { id: string; finished_at: string | null; verdict_json: string | null }[];
    return rows.flatMap((r) => {
      const v = r.verdict_json === null ? null : verdictSchema.parse(JSON.parse(r.verdict_json));
      if (!v || r.finished_at === null) return [];
      return [{ id: r.id, finishedAt: r.finished_at, kind: v.kind, pid: v.pid, comm: v.comm, path: v.path }];
    });
  }

  /** Records what was known around the triage (its context), once it is known. */
  async setContext(id: string, context: TriageContext): Promise<void> {
    this.stmt('UPDATE triages SET context_json = ? WHERE id = ?').run(JSON.stringify(context), id);
  }

  async report(id: string): Promise<string | undefined> {
    const row = this.stmt('SELECT report_md FROM triages WHERE id = ?').get(id) as { report_md: string | null } | undefined;
    return row?.report_md ?? undefined;
  }

  /** The raw evidence (TriageResult JSON text). */
  async result(id: string): Promise<string | undefined> {
    return this.resultNow(id);
  }

  private resultNow(id: string): string | undefined {
    const row = this.stmt('SELECT result_json FROM triages WHERE id = ?').get(id) as { result_json: string | null } | undefined;
    return row?.result_json ?? undefined;
  }

  async evidence(id: string): Promise<TriageResult | null> {
    return parseEvidence(this.resultNow(id));
  }

  async analysis(id: string): Promise<Analysis | null> {
    return parseAnalysis(this.resultNow(id));
  }

  async findByDedupKey(key: string): Promise<TriageRecord | undefined> {
    return this.findByDedupKeyNow(key);
  }

  /** The triage already started by this alert notification, if any (see NOT_RUN_FOR_DEDUP). */
  private findByDedupKeyNow(key: string): TriageRecord | undefined {
    const row = this
      .stmt(
        `SELECT ${COLUMNS} FROM triages WHERE dedup_key = ?
         AND NOT (status = 'failed' AND failure_code IN (${placeholders(NOT_RUN_FOR_DEDUP.length)}))
         ORDER BY seq DESC LIMIT 1`,
      )
      .get(key, ...NOT_RUN_FOR_DEDUP) as Row | undefined;
    return row && toRecord(row);
  }

  /** The node's newest automatic triage created at or after `since` that counts for cooldown. */
  private lastAutomatic(node: string, since: Date): TriageRecord | undefined {
    const row = this
      .stmt(
        `SELECT ${COLUMNS} FROM triages WHERE node = ? AND trigger_kind = 'alert' AND created_ms >= ?
         AND NOT (status = 'failed' AND failure_code IN (${placeholders(NOT_RUN_FOR_COOLDOWN.length)}))
         ORDER BY seq DESC LIMIT 1`,
      )
      .get(node, since.getTime(), ...NOT_RUN_FOR_COOLDOWN) as Row | undefined;
    return row && toRecord(row);
  }

  /** Triages left queued or running, oldest first. */
  async unfinished(): Promise<TriageRecord[]> {
    const rows = this.stmt(`SELECT ${COLUMNS} FROM triages WHERE status IN ('queued', 'running') ORDER BY seq`).all() as Row[];
    return rows.map(toRecord);
  }

  /** The newest triage this firing of an alert (fingerprint and startsAt, as Alertmanager resends them) started on the node. */
  async latestForAlert(node: string, fingerprint: string, startsAt: string): Promise<TriageRecord | undefined> {
    // One search of triages_by_node_alert: the cost does not grow with the node's history.
    const row = this
      .stmt(`SELECT ${COLUMNS} FROM triages WHERE node = ? AND dedup_key = ? ORDER BY seq DESC LIMIT 1`)
      .get(node, alertDedupKey(fingerprint, startsAt)) as Row | undefined;
    return row && toRecord(row);
  }

  /** Deletes finished triages created before `before` (their outbox rows with them). Returns how many. */
  async prune(before: Date): Promise<number> {
    return this.db.transaction(() => {
      this.outbox.pruneNow(before.getTime());
      this.deliveries.pruneNow(before.getTime());
      return this.stmt(`DELETE FROM triages WHERE created_ms < ? AND status IN ('done', 'failed')`).run(before.getTime()).changes;
    })();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
