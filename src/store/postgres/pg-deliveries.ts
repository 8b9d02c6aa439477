import type { DeliveryStore } from '../store.js';
import type { PgDb } from './pg-db.js';

/** Slack envelopes already handled, shared by every replica: the first to insert a key handles the envelope. */
export class PgDeliveries implements DeliveryStore {
  private readonly db: PgDb;

  constructor(db: PgDb) {
    this.db = db;
  }

  async claim(key: string, atMs: number): Promise<boolean> {
    const r = await this.db.query('claiming a Slack delivery', 'INSERT INTO slack_deliveries (key, created_ms) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [key, atMs]);
    return r.rowCount === 1;
  }

  async answer(key: string): Promise<string | null> {
    const r = await this.db.query<{ answer: string | null }>('reading a Slack delivery', 'SELECT answer_json AS answer FROM slack_deliveries WHERE key = $1', [key]);
    return r.rows[0]?.answer ?? null;
  }

  async setAnswer(key: string, answerJson: string): Promise<void> {
    await this.db.query('recording a Slack answer', 'UPDATE slack_deliveries SET answer_json = $2 WHERE key = $1', [key, answerJson]);
  }

  /** Only while no answer was kept: an answered key stays, so its redelivery gets that answer. */
  async release(key: string): Promise<void> {
    await this.db.query('releasing a Slack delivery', 'DELETE FROM slack_deliveries WHERE key = $1 AND answer_json IS NULL', [key]);
  }
}
