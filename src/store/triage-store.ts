import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { TriageError } from '../errors.js';
import {
  runOptionsSchema,
  slackDeliveryStateSchema,
  triageResultSchema,
  triageStatusSchema,
  triggerSchema,
  type RunOptions,
  type TriageRecord,
  type TriageResult,
  type TriageStatus,
  type Trigger,
} from '../model/triage.js';
import { analysisSchema, verdictSchema, type Analysis, type Verdict, type VerdictKind } from '../model/verdict.js';
import { triageContextSchema, type HistoryEntry, type TriageContext } from '../model/context.js';
import { SlackDeliveries } from './slack-deliveries.js';
import { SlackOutbox } from './slack-outbox.js';

/**
 * The embedded store: one SQLite file (WAL) under `storage.path` holding every triage, its verdict,
 * its Markdown report and its raw evidence (the TriageResult JSON). better-sqlite3 is synchronous,
 * so the dispatcher's check-then-insert (dedup, cooldown) cannot interleave with another request.
 */

export interface NewTriage {
  id: string;
  node: string;
  trigger: Trigger;
  options?: RunOptions;
  /** fingerprint + startsAt for alert triggers. */
  dedupKey: string | null;
  createdAt: Date;
}

export interface Completion {
  status: 'done' | 'failed';
  verdict: Verdict;
  finishedAt: Date;
  reportMarkdown: string | null;
  /** The raw evidence: the TriageResult as JSON text. */
  resultJson: string;
}

/**
 * Failures that mean "this triage never ran to a verdict": they neither make a resent alert a
 * duplicate nor hold the node in cooldown, so the alert can be triaged when it comes again.
 */
const NOT_RUN_FOR_DEDUP = ['interrupted', 'queue_full'];
/** A triage cancelled because its alert resolved still dedups the alert, but does not cool the node down. */
const NOT_RUN_FOR_COOLDOWN = [...NOT_RUN_FOR_DEDUP, 'cancelled'];

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

/** Index i brings a store from schema version i to i + 1. Append only. */
export const MIGRATIONS: readonly string[] = [MIGRATION_1, MIGRATION_2, MIGRATION_3, MIGRATION_4, MIGRATION_5];

/** How an alert firing is keyed: Alertmanager resends a notification with the same fingerprint and startsAt. */
export function alertDedupKey(fingerprint: string, startsAt: string): string {
  return `${fingerprint}|${startsAt}`;
}
const SCHEMA_VERSION = MIGRATIONS.length;

interface Row {
  id: string;
  node: string;
  trigger_json: string;
  options_json: string;
  status: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  verdict_json: string | null;
  has_report: number;
  slack_channel: string | null;
  slack_ts: string | null;
  slack_state: string | null;
  slack_error: string | null;
  context_json: string | null;
}

const COLUMNS =
  'id, node, trigger_json, options_json, status, created_at, started_at, finished_at, verdict_json, report_md IS NOT NULL AS has_report, slack_channel, slack_ts, slack_state, slack_error, context_json';

function toRecord(row: Row): TriageRecord {
  return {
    id: row.id,
    node: row.node,
    trigger: triggerSchema.parse(JSON.parse(row.trigger_json)),
    options: runOptionsSchema.parse(JSON.parse(row.options_json)),
    status: triageStatusSchema.parse(row.status),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    verdict: row.verdict_json === null ? null : verdictSchema.parse(JSON.parse(row.verdict_json)),
    hasReport: row.has_report === 1,
    slack:
      row.slack_state === null
        ? null
        : { state: slackDeliveryStateSchema.parse(row.slack_state), error: row.slack_error, channel: row.slack_channel, ts: row.slack_ts },
    context: row.context_json === null ? null : parseContext(row.context_json),
  };
}

/** Stored context that no longer has its shape (an older or trimmed record) is left out rather than failing the read. */
function parseContext(json: string): TriageContext | null {
  try {
    const parsed = triageContextSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

export class TriageStore {
  readonly file: string;
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
    this.db = db;
    this.outbox = new SlackOutbox(db);
    this.deliveries = new SlackDeliveries(db);
  }

  /** Opens (creating if needed) `<dir>/triages.sqlite`. Throws TriageError('store_unavailable'). */
  static open(dir: string): TriageStore {
    const file = join(dir, 'triages.sqlite');
    try {
      mkdirSync(dir, { recursive: true });
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = ON');
      TriageStore.migrate(db);
      return new TriageStore(file, db);
    } catch (err) {
      throw new TriageError('store_unavailable', `cannot open the store ${file}: ${(err as Error).message}`, { cause: err });
    }
  }

  private static migrate(db: Database.Database): void {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`the store was written by a newer pagefault-triage (schema ${version}, this one knows ${SCHEMA_VERSION})`);
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

  /** Runs fn in one transaction (one commit for a whole webhook). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  insertQueued(t: NewTriage): void {
    this
      .stmt(
        `INSERT INTO triages (id, node, trigger_kind, trigger_json, options_json, dedup_key, status, created_at, created_ms)
         VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)`,
      )
      .run(t.id, t.node, t.trigger.kind, JSON.stringify(t.trigger), JSON.stringify(t.options ?? {}), t.dedupKey, t.createdAt.toISOString(), t.createdAt.getTime());
  }

  /** Records a triage that was refused before it could queue (queue full): never silently lost. */
  insertFailed(t: NewTriage, verdict: Verdict): void {
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

  /** queued → running. False when the triage is no longer queued (cancelled meanwhile). */
  markRunning(id: string, at: Date): boolean {
    return this.stmt(`UPDATE triages SET status = 'running', started_at = ? WHERE id = ? AND status = 'queued'`).run(at.toISOString(), id).changes === 1;
  }

  /** running → done|failed with everything the run produced. False when it was marked interrupted meanwhile. */
  complete(id: string, c: Completion): boolean {
    return (
      this
        .stmt(
          `UPDATE triages SET status = ?, finished_at = ?, verdict_kind = ?, failure_code = ?, verdict_json = ?, report_md = ?, result_json = ?
           WHERE id = ? AND status = 'running'`,
        )
        .run(c.status, c.finishedAt.toISOString(), c.verdict.kind, c.verdict.failure?.code ?? null, JSON.stringify(c.verdict), c.reportMarkdown, c.resultJson, id)
        .changes === 1
    );
  }

  /** Ends a triage without a run of its own (cancelled, interrupted), only from one of the given states. */
  fail(id: string, verdict: Verdict, at: Date, from: readonly TriageStatus[]): boolean {
    return (
      this
        .stmt(
          `UPDATE triages SET status = 'failed', finished_at = ?, verdict_kind = 'failed', failure_code = ?, verdict_json = ?
           WHERE id = ? AND status IN (${placeholders(from.length)})`,
        )
        .run(at.toISOString(), verdict.failure?.code ?? null, JSON.stringify(verdict), id, ...from).changes === 1
    );
  }

  get(id: string): TriageRecord | undefined {
    const row = this.stmt(`SELECT ${COLUMNS} FROM triages WHERE id = ?`).get(id) as Row | undefined;
    return row && toRecord(row);
  }

  /** Newest first; `kind` keeps triages with that verdict, `offset` skips that many (pages of the index). */
  list(filter: { node?: string | undefined; kind?: VerdictKind | undefined; limit: number; offset?: number }): TriageRecord[] {
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
  history(node: string, since: Date, limit: number): HistoryEntry[] {
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
  setContext(id: string, context: TriageContext): void {
    this.stmt('UPDATE triages SET context_json = ? WHERE id = ?').run(JSON.stringify(context), id);
  }

  report(id: string): string | undefined {
    const row = this.stmt('SELECT report_md FROM triages WHERE id = ?').get(id) as { report_md: string | null } | undefined;
    return row?.report_md ?? undefined;
  }

  /** The raw evidence (TriageResult JSON text). */
  result(id: string): string | undefined {
    const row = this.stmt('SELECT result_json FROM triages WHERE id = ?').get(id) as { result_json: string | null } | undefined;
    return row?.result_json ?? undefined;
  }

  /** The stored evidence as the engine produced it, when it is there and whole (trimmed evidence may not parse). */
  evidence(id: string): TriageResult | null {
    const json = this.result(id);
    if (json === undefined) return null;
    try {
      const parsed = triageResultSchema.safeParse(JSON.parse(json));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  /** The analysis inside the stored evidence, if it is there and still has its shape (evidence may be trimmed). */
  analysis(id: string): Analysis | null {
    const json = this.result(id);
    if (json === undefined) return null;
    try {
      const parsed = analysisSchema.safeParse((JSON.parse(json) as { analysis?: unknown }).analysis);
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  /** The triage already started by this alert notification, if any (see NOT_RUN_FOR_DEDUP). */
  findByDedupKey(key: string): TriageRecord | undefined {
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
  lastAutomatic(node: string, since: Date): TriageRecord | undefined {
    const row = this
      .stmt(
        `SELECT ${COLUMNS} FROM triages WHERE node = ? AND trigger_kind = 'alert' AND created_ms >= ?
         AND NOT (status = 'failed' AND failure_code IN (${placeholders(NOT_RUN_FOR_COOLDOWN.length)}))
         ORDER BY seq DESC LIMIT 1`,
      )
      .get(node, since.getTime(), ...NOT_RUN_FOR_COOLDOWN) as Row | undefined;
    return row && toRecord(row);
  }

  /** Triages left queued or running, oldest first (for recovery at start). */
  unfinished(): TriageRecord[] {
    const rows = this.stmt(`SELECT ${COLUMNS} FROM triages WHERE status IN ('queued', 'running') ORDER BY seq`).all() as Row[];
    return rows.map(toRecord);
  }

  /** The newest triage this firing of an alert (fingerprint and startsAt, as Alertmanager resends them) started on the node. */
  latestForAlert(node: string, fingerprint: string, startsAt: string): TriageRecord | undefined {
    // One search of triages_by_node_alert: the cost does not grow with the node's history.
    const row = this
      .stmt(`SELECT ${COLUMNS} FROM triages WHERE node = ? AND dedup_key = ? ORDER BY seq DESC LIMIT 1`)
      .get(node, alertDedupKey(fingerprint, startsAt)) as Row | undefined;
    return row && toRecord(row);
  }

  /** Deletes finished triages created before `before` (their outbox rows with them). Returns how many. */
  prune(before: Date): number {
    this.outbox.prune(before.getTime());
    this.deliveries.prune(before.getTime());
    return this.stmt(`DELETE FROM triages WHERE created_ms < ? AND status IN ('done', 'failed')`).run(before.getTime()).changes;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
