import type pg from 'pg';
import { TriageError } from '../../errors.js';

/**
 * The PostgreSQL schema. Versions mean the same as the SQLite store's migrations (1–5 there, 6 the leases and the
 * cross-replica unique indexes), so `health()` reports the same numbers whichever store is used. Times are ISO text
 * (as SQLite keeps them, returned as they were written) beside BIGINT milliseconds for comparisons.
 */

const MIGRATION_1 = `
CREATE TABLE triages (
  seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id           TEXT NOT NULL UNIQUE,
  node         TEXT NOT NULL,
  trigger_kind TEXT NOT NULL,
  trigger_json TEXT NOT NULL,
  options_json TEXT NOT NULL DEFAULT '{}',
  dedup_key    TEXT,
  status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
  created_at   TEXT NOT NULL,
  created_ms   BIGINT NOT NULL,
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

/** Slack: the bot's message and delivery state per triage, and the outbox. */
const MIGRATION_2 = `
ALTER TABLE triages ADD COLUMN slack_channel TEXT;
ALTER TABLE triages ADD COLUMN slack_ts TEXT;
ALTER TABLE triages ADD COLUMN slack_state TEXT CHECK (slack_state IN ('pending', 'sent', 'failed'));
ALTER TABLE triages ADD COLUMN slack_error TEXT;
CREATE TABLE slack_outbox (
  seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  triage_id  TEXT REFERENCES triages (id) ON DELETE CASCADE,
  purpose    TEXT NOT NULL,
  call_json  TEXT NOT NULL,
  state      TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
  attempts   INTEGER NOT NULL DEFAULT 0,
  created_ms BIGINT NOT NULL,
  next_ms    BIGINT NOT NULL,
  done_ms    BIGINT,
  last_error TEXT
);
CREATE INDEX slack_outbox_pending ON slack_outbox (next_ms) WHERE state = 'pending';
CREATE INDEX slack_outbox_by_triage ON slack_outbox (triage_id, seq);
`;

/** Context, and a node's finished triages by verdict. */
const MIGRATION_3 = `
ALTER TABLE triages ADD COLUMN context_json TEXT;
CREATE INDEX triages_by_kind ON triages (verdict_kind, seq) WHERE verdict_kind IS NOT NULL;
`;

/** The triage an alert firing started, by node and dedup key. */
const MIGRATION_4 = `
CREATE INDEX triages_by_node_alert ON triages (node, dedup_key, seq) WHERE dedup_key IS NOT NULL;
`;

/** Slack, exactly once: unsure posts, and the envelopes already handled. */
const MIGRATION_5 = `
ALTER TABLE slack_outbox ADD COLUMN unsure_ms BIGINT;
CREATE TABLE slack_deliveries (
  key         TEXT PRIMARY KEY,
  answer_json TEXT,
  created_ms  BIGINT NOT NULL
);
CREATE INDEX slack_deliveries_by_created ON slack_deliveries (created_ms);
`;

/**
 * Several replicas: a running triage is leased by one replica and taken over when the lease expires; an outbox row
 * is claimed by one replica; and the database itself refuses what no replica may do (two running triages on a
 * node, two triages for one notification, one Slack message queued twice).
 */
const MIGRATION_6 = `
ALTER TABLE triages ADD COLUMN lease_owner TEXT;
ALTER TABLE triages ADD COLUMN lease_until_ms BIGINT;
ALTER TABLE triages ADD COLUMN runs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE slack_outbox ADD COLUMN claim_owner TEXT;
ALTER TABLE slack_outbox ADD COLUMN claim_until_ms BIGINT;
CREATE UNIQUE INDEX triages_one_running_per_node ON triages (node) WHERE status = 'running';
CREATE UNIQUE INDEX triages_one_per_notification ON triages (dedup_key)
  WHERE dedup_key IS NOT NULL AND (failure_code IS NULL OR failure_code NOT IN ('interrupted', 'queue_full'));
CREATE UNIQUE INDEX slack_outbox_once ON slack_outbox (triage_id, purpose) WHERE triage_id IS NOT NULL;
`;

/** Index i brings a database from schema version i to i + 1. Append only. */
export const PG_MIGRATIONS: readonly string[] = [MIGRATION_1, MIGRATION_2, MIGRATION_3, MIGRATION_4, MIGRATION_5, MIGRATION_6];
export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;

/** Any fixed number: replicas that start together take this lock, so one migrates and the others find it done. */
export const MIGRATION_LOCK_KEY = 7_150_318_842;

/** Every version applied, one row each (the current one is the highest). */
const VERSION_TABLE = `CREATE TABLE IF NOT EXISTS pft_schema_version (
  version    INTEGER PRIMARY KEY,
  applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`;

export async function schemaVersion(client: Pick<pg.ClientBase, 'query'>): Promise<number> {
  const exists = await client.query<{ t: string | null }>(`SELECT to_regclass('pft_schema_version')::text AS t`);
  if (exists.rows[0]?.t == null) return 0;
  const r = await client.query<{ v: number }>('SELECT COALESCE(MAX(version), 0)::int AS v FROM pft_schema_version');
  return r.rows[0]!.v;
}

export function schemaNewer(location: string, found: number): TriageError {
  return new TriageError(
    'store_schema_newer',
    `the store at ${location} has schema ${found}; this pagefault-triage knows ${PG_SCHEMA_VERSION}: upgrade it (or point storage.url elsewhere)`,
  );
}

/**
 * Brings the database to this build's schema in one transaction under an advisory lock (released at commit), so
 * replicas starting together migrate once. Refuses a database a newer build has written.
 */
export async function migrate(client: pg.ClientBase, location: string): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(VERSION_TABLE);
    const found = await schemaVersion(client);
    if (found > PG_SCHEMA_VERSION) throw schemaNewer(location, found);
    for (let v = found; v < PG_SCHEMA_VERSION; v++) {
      await client.query(PG_MIGRATIONS[v]!);
      await client.query('INSERT INTO pft_schema_version (version) VALUES ($1)', [v + 1]);
    }
    await client.query('COMMIT');
    return found;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
