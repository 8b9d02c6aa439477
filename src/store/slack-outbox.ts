import type Database from 'better-sqlite3';
import type { SlackDeliveryState } from '../model/triage.js';
import { toOutboxRow, type OutboxTableRow } from './rows.js';
import type { OutboxRow, OutboxState, OutboxStore } from './store.js';

/**
 * The Slack outbox: every Slack call the bot means to make is a row here before it is made, so a
 * crash, a restart or a Slack outage loses none. The delivery worker (src/notify/slack/worker.ts) takes
 * rows in order, one triage's rows strictly one after the other (a verdict must not overtake the
 * start message it updates), and marks each sent, failed (permanently) or due again later. It also keeps
 * each triage's message (channel and ts, once posted) and its delivery state, on the triage's row.
 */


const UNCLAIM = 'claim_owner = NULL, claim_until_ms = NULL';

// A row is eligible when no earlier row of the same triage is still pending.
const ELIGIBLE = `state = 'pending' AND (triage_id IS NULL OR NOT EXISTS (
  SELECT 1 FROM slack_outbox e WHERE e.triage_id = o.triage_id AND e.state = 'pending' AND e.seq < o.seq))`;

export class SlackOutbox implements OutboxStore {
  private readonly db: Database.Database;

  constructor(db: Database.Database) {
    this.db = db;
  }

  async enqueue(row: { triageId: string | null; purpose: string; callJson: string; atMs: number }): Promise<number | null> {
    return this.db.transaction(() => {
      const r = this.db
        .prepare(
          `INSERT INTO slack_outbox (triage_id, purpose, call_json, state, created_ms, next_ms) VALUES (?, ?, ?, 'pending', ?, ?)
           ON CONFLICT (triage_id, purpose) WHERE triage_id IS NOT NULL DO NOTHING`,
        )
        .run(row.triageId, row.purpose, row.callJson, row.atMs, row.atMs);
      if (r.changes === 0) return null;
      if (row.triageId) this.db.prepare(`UPDATE triages SET slack_state = 'pending' WHERE id = ?`).run(row.triageId);
      return Number(r.lastInsertRowid);
    })();
  }

  /** The oldest eligible row due at `nowMs` that nobody holds, claimed for `owner` until `nowMs + claimMs`. */
  async claimDue(nowMs: number, owner: string, claimMs: number): Promise<OutboxRow | undefined> {
    const r = this.db
      .prepare(
        `UPDATE slack_outbox SET claim_owner = ?, claim_until_ms = ?
         WHERE seq = (SELECT seq FROM slack_outbox o WHERE ${ELIGIBLE} AND next_ms <= ? AND COALESCE(claim_until_ms, 0) < ? ORDER BY seq LIMIT 1)
         RETURNING *`,
      )
      .get(owner, nowMs + claimMs, nowMs, nowMs) as OutboxTableRow | undefined;
    return r && toOutboxRow(r);
  }

  /** When the next eligible row falls due (ms), or undefined when none is pending. */
  async nextDueAt(): Promise<number | undefined> {
    const r = this.db.prepare(`SELECT MIN(next_ms) AS at FROM slack_outbox o WHERE ${ELIGIBLE}`).get() as { at: number | null };
    return r.at ?? undefined;
  }

  async get(seq: number): Promise<OutboxRow | undefined> {
    const r = this.db.prepare('SELECT * FROM slack_outbox WHERE seq = ?').get(seq) as OutboxTableRow | undefined;
    return r && toOutboxRow(r);
  }

  /** A triage's rows in order (tests, GET views). */
  async forTriage(triageId: string): Promise<OutboxRow[]> {
    return (this.db.prepare('SELECT * FROM slack_outbox WHERE triage_id = ? ORDER BY seq').all(triageId) as OutboxTableRow[]).map(toOutboxRow);
  }

  async markSent(seq: number, atMs: number): Promise<void> {
    this.db.prepare(`UPDATE slack_outbox SET state = 'sent', attempts = attempts + 1, done_ms = ?, last_error = NULL, ${UNCLAIM} WHERE seq = ?`).run(atMs, seq);
  }

  async markFailed(seq: number, atMs: number, error: string): Promise<void> {
    this.db.prepare(`UPDATE slack_outbox SET state = 'failed', attempts = attempts + 1, done_ms = ?, last_error = ?, ${UNCLAIM} WHERE seq = ?`).run(atMs, error, seq);
  }

  /** A failed attempt that may succeed later. `countAttempt` is false when the call was not really made. */
  async retryAt(seq: number, nextMs: number, error: string, countAttempt = true): Promise<void> {
    this.db.prepare(`UPDATE slack_outbox SET attempts = attempts + ?, next_ms = ?, last_error = ?, ${UNCLAIM} WHERE seq = ?`).run(countAttempt ? 1 : 0, nextMs, error, seq);
  }

  /**
   * Written just before a post goes out, and kept until its outcome is known: if the process dies in the
   * call, or the answer never comes, the next attempt knows the message may be in Slack already.
   * The earliest such attempt is kept (the window to look in starts there).
   */
  async markUnsure(seq: number, atMs: number): Promise<void> {
    this.db.prepare('UPDATE slack_outbox SET unsure_ms = COALESCE(unsure_ms, ?) WHERE seq = ?').run(atMs, seq);
  }

  /** The last attempt's outcome is known (Slack answered): no lookup needed before the next one. */
  async clearUnsure(seq: number): Promise<void> {
    this.db.prepare('UPDATE slack_outbox SET unsure_ms = NULL WHERE seq = ?').run(seq);
  }

  /** The bot's message for a triage, once posted. */
  async message(triageId: string): Promise<{ channel: string; ts: string } | null> {
    const r = this.db.prepare('SELECT slack_channel AS channel, slack_ts AS ts FROM triages WHERE id = ?').get(triageId) as
      | { channel: string | null; ts: string | null }
      | undefined;
    return r?.channel && r.ts ? { channel: r.channel, ts: r.ts } : null;
  }

  /** Records the bot's message for a triage (null ts: forget it, e.g. someone deleted it). */
  async setMessage(triageId: string, channel: string | null, ts: string | null): Promise<void> {
    this.db.prepare('UPDATE triages SET slack_channel = ?, slack_ts = ? WHERE id = ?').run(channel, ts, triageId);
  }

  /** Where the triage stands with Slack; `error` is the permanent error, or the last transient one while pending. */
  async setState(triageId: string, state: SlackDeliveryState, error: string | null): Promise<void> {
    this.db.prepare('UPDATE triages SET slack_state = ?, slack_error = ? WHERE id = ?').run(state, error, triageId);
  }

  /** The last error recorded for a triage's Slack calls. */
  async lastError(triageId: string): Promise<string | null> {
    const r = this.db.prepare('SELECT slack_error AS error FROM triages WHERE id = ?').get(triageId) as { error: string | null } | undefined;
    return r?.error ?? null;
  }

  /** Whether a call for this purpose was ever queued for the triage (a resolved reply is sent once). */
  async hasQueued(triageId: string, purpose: string): Promise<boolean> {
    return this.db.prepare('SELECT 1 FROM slack_outbox WHERE triage_id = ? AND purpose = ? LIMIT 1').get(triageId, purpose) !== undefined;
  }

  async pendingCount(): Promise<number> {
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM slack_outbox WHERE state = 'pending'`).get() as { n: number }).n;
  }

  /** Counts of a triage's rows by state. */
  async triageStates(triageId: string): Promise<Record<OutboxState, number>> {
    const rows = this.db.prepare('SELECT state, COUNT(*) AS n FROM slack_outbox WHERE triage_id = ? GROUP BY state').all(triageId) as { state: OutboxState; n: number }[];
    const out: Record<OutboxState, number> = { pending: 0, sent: 0, failed: 0 };
    for (const r of rows) out[r.state] = r.n;
    return out;
  }

  /**
   * Finished triages whose start message was queued but whose verdict never was: the bot stopped
   * while they ran (they were marked interrupted). Their message still says "started".
   */
  async startedWithoutVerdict(): Promise<string[]> {
    const rows = this.db
      .prepare(
        `SELECT t.id FROM triages t WHERE t.status IN ('done', 'failed')
         AND EXISTS (SELECT 1 FROM slack_outbox s WHERE s.triage_id = t.id AND s.purpose = 'start')
         AND NOT EXISTS (SELECT 1 FROM slack_outbox v WHERE v.triage_id = t.id AND v.purpose = 'verdict')
         ORDER BY t.seq`,
      )
      .all() as { id: string }[];
    return rows.map((r) => r.id);
  }

  /** Rows without a triage (ephemeral answers) are kept until the retention cut like triages. */
  pruneNow(beforeMs: number): number {
    return this.db.prepare(`DELETE FROM slack_outbox WHERE triage_id IS NULL AND state != 'pending' AND created_ms < ?`).run(beforeMs).changes;
  }
}
