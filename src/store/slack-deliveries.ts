import type Database from 'better-sqlite3';
import type { DeliveryStore } from './store.js';

/**
 * Slack envelopes already handled. Socket Mode gives an envelope to one of the app's connections and
 * delivers it again when the ack does not arrive in time, perhaps to another replica: the first to claim
 * its key (trigger id, else envelope id) handles it, and every later delivery gets the answer stored here.
 * A claim whose handling failed is released, so the redelivery is handled.
 */
export class SlackDeliveries implements DeliveryStore {
  private readonly db: Database.Database;

  constructor(db: Database.Database) {
    this.db = db;
  }

  /** True when `key` was not seen before (it is now); false for a repeat. */
  async claim(key: string, atMs: number): Promise<boolean> {
    return this.db.prepare('INSERT INTO slack_deliveries (key, created_ms) VALUES (?, ?) ON CONFLICT (key) DO NOTHING').run(key, atMs).changes === 1;
  }

  /** The answer given the first time (JSON), or null when none was kept. */
  async answer(key: string): Promise<string | null> {
    const r = this.db.prepare('SELECT answer_json AS answer FROM slack_deliveries WHERE key = ?').get(key) as { answer: string | null } | undefined;
    return r?.answer ?? null;
  }

  async setAnswer(key: string, answerJson: string): Promise<void> {
    this.db.prepare('UPDATE slack_deliveries SET answer_json = ? WHERE key = ?').run(answerJson, key);
  }

  async release(key: string): Promise<void> {
    this.db.prepare('DELETE FROM slack_deliveries WHERE key = ? AND answer_json IS NULL').run(key);
  }

  /** Slack redelivers within minutes: keys older than the retention cut are of no use. */
  pruneNow(beforeMs: number): number {
    return this.db.prepare('DELETE FROM slack_deliveries WHERE created_ms < ?').run(beforeMs).changes;
  }
}
