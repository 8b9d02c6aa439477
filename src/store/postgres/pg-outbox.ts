import type { SlackDeliveryState } from '../../model/triage.js';
import type { OutboxRow, OutboxState, OutboxStore } from '../store.js';
import type { PgDb } from './pg-db.js';
import { OUTBOX_COLUMNS, toOutboxRow, type OutboxTableRow } from '../rows.js';

/**
 * The Slack outbox in PostgreSQL. Each replica's delivery worker claims the row it is about to send
 * (claim_owner, claim_until_ms) so no other replica sends it meanwhile; a claim left by a replica that stopped
 * simply expires. A triage's rows still go strictly one after the other.
 */



// A row is eligible when no earlier row of the same triage is still pending (as in the SQLite outbox).
const ELIGIBLE = `o.state = 'pending' AND (o.triage_id IS NULL OR NOT EXISTS (
  SELECT 1 FROM slack_outbox e WHERE e.triage_id = o.triage_id AND e.state = 'pending' AND e.seq < o.seq))`;

export class PgOutbox implements OutboxStore {
  private readonly db: PgDb;

  constructor(db: PgDb) {
    this.db = db;
  }

  async enqueue(row: { triageId: string | null; purpose: string; callJson: string; atMs: number }): Promise<number | null> {
    return this.db.tx('queuing a Slack call', async (c) => {
      const r = await c.query<{ seq: number }>(
        `INSERT INTO slack_outbox (triage_id, purpose, call_json, state, created_ms, next_ms) VALUES ($1, $2, $3, 'pending', $4, $4)
         ON CONFLICT (triage_id, purpose) WHERE triage_id IS NOT NULL DO NOTHING RETURNING seq`,
        [row.triageId, row.purpose, row.callJson, row.atMs],
      );
      const seq = r.rows[0]?.seq;
      if (seq === undefined) return null;
      if (row.triageId !== null) await c.query(`UPDATE triages SET slack_state = 'pending' WHERE id = $1`, [row.triageId]);
      return seq;
    });
  }

  async claimDue(nowMs: number, owner: string, claimMs: number): Promise<OutboxRow | undefined> {
    const r = await this.db.query<OutboxTableRow>(
      'claiming a Slack call',
      `UPDATE slack_outbox SET claim_owner = $2, claim_until_ms = $3
       WHERE seq = (SELECT o.seq FROM slack_outbox o WHERE ${ELIGIBLE} AND o.next_ms <= $1
                    AND (o.claim_until_ms IS NULL OR o.claim_until_ms < $1)
                    ORDER BY o.seq LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING ${OUTBOX_COLUMNS}`,
      [nowMs, owner, nowMs + claimMs],
    );
    const row = r.rows[0];
    return row && toOutboxRow(row);
  }

  async nextDueAt(): Promise<number | undefined> {
    const r = await this.db.query<{ at: number | null }>('reading the Slack outbox', `SELECT MIN(o.next_ms) AS at FROM slack_outbox o WHERE ${ELIGIBLE}`);
    return r.rows[0]?.at ?? undefined;
  }

  async get(seq: number): Promise<OutboxRow | undefined> {
    const r = await this.db.query<OutboxTableRow>('reading the Slack outbox', `SELECT ${OUTBOX_COLUMNS} FROM slack_outbox WHERE seq = $1`, [seq]);
    const row = r.rows[0];
    return row && toOutboxRow(row);
  }

  async forTriage(triageId: string): Promise<OutboxRow[]> {
    const r = await this.db.query<OutboxTableRow>('reading the Slack outbox', `SELECT ${OUTBOX_COLUMNS} FROM slack_outbox WHERE triage_id = $1 ORDER BY seq`, [triageId]);
    return r.rows.map(toOutboxRow);
  }

  async markSent(seq: number, atMs: number): Promise<void> {
    await this.db.query(
      'recording a Slack call',
      `UPDATE slack_outbox SET state = 'sent', attempts = attempts + 1, done_ms = $2, last_error = NULL, claim_owner = NULL, claim_until_ms = NULL WHERE seq = $1`,
      [seq, atMs],
    );
  }

  async markFailed(seq: number, atMs: number, error: string): Promise<void> {
    await this.db.query(
      'recording a Slack call',
      `UPDATE slack_outbox SET state = 'failed', attempts = attempts + 1, done_ms = $2, last_error = $3, claim_owner = NULL, claim_until_ms = NULL WHERE seq = $1`,
      [seq, atMs, error],
    );
  }

  async retryAt(seq: number, nextMs: number, error: string, countAttempt = true): Promise<void> {
    await this.db.query(
      'recording a Slack call',
      `UPDATE slack_outbox SET attempts = attempts + $2, next_ms = $3, last_error = $4, claim_owner = NULL, claim_until_ms = NULL WHERE seq = $1`,
      [seq, countAttempt ? 1 : 0, nextMs, error],
    );
  }

  async markUnsure(seq: number, atMs: number): Promise<void> {
    await this.db.query('recording a Slack call', 'UPDATE slack_outbox SET unsure_ms = COALESCE(unsure_ms, $2) WHERE seq = $1', [seq, atMs]);
  }

  async clearUnsure(seq: number): Promise<void> {
    await this.db.query('recording a Slack call', 'UPDATE slack_outbox SET unsure_ms = NULL WHERE seq = $1', [seq]);
  }

  async message(triageId: string): Promise<{ channel: string; ts: string } | null> {
    const r = await this.db.query<{ channel: string | null; ts: string | null }>(
      "reading a triage's Slack message",
      'SELECT slack_channel AS channel, slack_ts AS ts FROM triages WHERE id = $1',
      [triageId],
    );
    const row = r.rows[0];
    return row?.channel && row.ts ? { channel: row.channel, ts: row.ts } : null;
  }

  async setMessage(triageId: string, channel: string | null, ts: string | null): Promise<void> {
    await this.db.query("recording a triage's Slack message", 'UPDATE triages SET slack_channel = $2, slack_ts = $3 WHERE id = $1', [triageId, channel, ts]);
  }

  async setState(triageId: string, state: SlackDeliveryState, error: string | null): Promise<void> {
    await this.db.query("recording a triage's Slack state", 'UPDATE triages SET slack_state = $2, slack_error = $3 WHERE id = $1', [triageId, state, error]);
  }

  async lastError(triageId: string): Promise<string | null> {
    const r = await this.db.query<{ error: string | null }>("reading a triage's Slack state", 'SELECT slack_error AS error FROM triages WHERE id = $1', [triageId]);
    return r.rows[0]?.error ?? null;
  }

  async hasQueued(triageId: string, purpose: string): Promise<boolean> {
    const r = await this.db.query('reading the Slack outbox', 'SELECT 1 FROM slack_outbox WHERE triage_id = $1 AND purpose = $2 LIMIT 1', [triageId, purpose]);
    return r.rows.length > 0;
  }

  async pendingCount(): Promise<number> {
    const r = await this.db.query<{ n: number }>('reading the Slack outbox', `SELECT COUNT(*) AS n FROM slack_outbox WHERE state = 'pending'`);
    return r.rows[0]!.n;
  }

  async triageStates(triageId: string): Promise<Record<OutboxState, number>> {
    const r = await this.db.query<{ state: OutboxState; n: number }>(
      'reading the Slack outbox',
      'SELECT state, COUNT(*) AS n FROM slack_outbox WHERE triage_id = $1 GROUP BY state',
      [triageId],
    );
    const out: Record<OutboxState, number> = { pending: 0, sent: 0, failed: 0 };
    for (const row of r.rows) out[row.state] = row.n;
    return out;
  }

  async startedWithoutVerdict(): Promise<string[]> {
    const r = await this.db.query<{ id: string }>(
      'reading the Slack outbox',
      `SELECT t.id FROM triages t WHERE t.status IN ('done', 'failed')
       AND EXISTS (SELECT 1 FROM slack_outbox s WHERE s.triage_id = t.id AND s.purpose = 'start')
       AND NOT EXISTS (SELECT 1 FROM slack_outbox v WHERE v.triage_id = t.id AND v.purpose = 'verdict')
       ORDER BY t.seq`,
    );
    return r.rows.map((row) => row.id);
  }
}
