import pg from 'pg';
import type { Log } from '../../log.js';
import { isUnavailable, unavailable } from './pg-errors.js';

/**
 * The pool every part of the PostgreSQL store goes through: one query, or one transaction, each turning a
 * failure to reach the database into TriageError('store_unavailable') and leaving every other error as it is.
 */

const INT8_OID = 20;

/** BIGINT comes back as a JS number: ms since the epoch and sequence numbers stay far below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

export type Queryable = Pick<pg.ClientBase, 'query'>;

export class PgDb {
  readonly pool: pg.Pool;
  readonly location: string;
  private readonly log: Log | undefined;

  constructor(url: string, location: string, opts: { poolMax?: number; log?: Log; applicationName?: string }) {
    this.location = location;
    this.log = opts.log;
    this.pool = new pg.Pool({
      connectionString: url,
      max: opts.poolMax ?? 10,
      application_name: opts.applicationName ?? 'pagefault-triage',
      // A database that cannot be reached must fail a call, not hang it (the pool's own default waits forever).
      // 5 s: a webhook waiting on it is answered 503 well inside Alertmanager's patience, and it retries.
      connectionTimeoutMillis: 5_000,
      // A server that stops answering without closing the connection fails the call too, after 15 s.
      query_timeout: 15_000,
      // TCP keepalive notices a server that vanished without closing its connections (a cut network).
      keepAlive: true,
      types,
    });
    // An idle connection cut by the server (restart, failover) must not crash the process; the pool drops it
    // and opens a new one on the next call.
    this.pool.on('error', (err) => this.log?.warn({ err, store: location }, 'a PostgreSQL connection of the store was lost; it reconnects on the next call'));
  }

  /** One statement on any pooled connection. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(what: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params);
    } catch (err) {
      throw this.translate(what, err);
    }
  }

  /** fn inside BEGIN … COMMIT on one connection; rolled back when it throws. */
  async tx<T>(what: string, fn: (client: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw this.translate(what, err);
    }
    // While checked out the pool does not listen for the connection's errors; without a listener one would crash.
    let lost: unknown;
    const onError = (err: unknown) => {
      lost = err;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      lost ??= isUnavailable(err) ? err : undefined;
      if (lost === undefined) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackErr) {
          lost = rollbackErr;
        }
      }
      throw this.translate(what, err);
    } finally {
      client.off('error', onError);
      // A broken connection is thrown away rather than handed to the next caller.
      client.release(lost === undefined ? undefined : lost instanceof Error ? lost : true);
    }
  }

  translate(what: string, err: unknown): unknown {
    return isUnavailable(err) ? unavailable(what, this.location, err) : err;
  }
}

/** The URL as logs and doctor show it: without its password. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '';
    return u.toString();
  } catch {
    // A keyword/value connection string.
    return url.replace(/password\s*=\s*('[^']*'|\S+)/gi, '').replace(/\s+/g, ' ').trim();
  }
}
