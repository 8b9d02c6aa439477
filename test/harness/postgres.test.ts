// The PostgreSQL harness against a real cluster and the real `pg` client the store will use.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRunning, startPostgres, type Postgres } from '../support/postgres.js';

/** Pids whose parent is `ppid` (the postmaster's backends and helpers). */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/PID/stat, after the parenthesised comm (which may hold spaces).
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** A pool whose idle-client errors (server went away) are recorded instead of crashing the process. */
function poolOn(url: string): { pool: pg.Pool; idleErrors: Error[] } {
  const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5000 });
  const idleErrors: Error[] = [];
  pool.on('error', (err) => idleErrors.push(err));
  return { pool, idleErrors };
}

describe('startPostgres', () => {
  let db: Postgres;
  let startMs = 0;

  beforeAll(async () => {
    const t0 = Date.now();
    db = await startPostgres();
    startMs = Date.now() - t0;
  });

  afterAll(async () => {
    await db?.close();
  });

  it('runs an unprivileged cluster on loopback that a pg Pool can query', async () => {
    expect(db.url).toBe(`postgres://pft@127.0.0.1:${db.port}/postgres`);
    const { pool } = poolOn(db.url);
    try {
      const r = await pool.query<{ version: string; usr: string; addr: string }>("SELECT version() AS version, current_user AS usr, inet_server_addr()::text AS addr");
      expect(r.rows[0]!.version).toMatch(/^PostgreSQL 15\./);
      expect(r.rows[0]!.usr).toBe('pft');
      expect(r.rows[0]!.addr).toBe('127.0.0.1/32');
      const owner = readFileSync(`/proc/${db.pid()!}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)![1];
      expect(Number(owner)).not.toBe(0);
    } finally {
      await pool.end();
    }
    console.log(`postgres harness: initdb + start took ${startMs} ms`);
  });

  it('creates a database per test and gives its URL', async () => {
    const url = await db.createDatabase('store_contract_1');
    expect(url).toBe(`postgres://pft@127.0.0.1:${db.port}/store_contract_1`);
    const { pool } = poolOn(url);
    try {
      const r = await pool.query<{ db: string }>('SELECT current_database() AS db');
      expect(r.rows[0]!.db).toBe('store_contract_1');
    } finally {
      await pool.end();
    }
    await expect(db.createDatabase('bad"; DROP')).rejects.toThrow(/not a plain database name/);
  });

  it('restart() cuts connections; the pool reports them as idle errors and reconnects by itself', async () => {
    const { pool, idleErrors } = poolOn(db.url);
    try {
      await pool.query('CREATE TABLE survives (n int)');
      await pool.query('INSERT INTO survives VALUES (42)');
      const before = db.pid();
      const t0 = Date.now();
      await db.restart();
      console.log(`postgres harness: restart took ${Date.now() - t0} ms`);
      expect(db.pid()).not.toBe(before);
      // The idle client's socket was closed by the server: the pool must have said so, not thrown.
      await new Promise((r) => setTimeout(r, 200));
      expect(idleErrors.length).toBeGreaterThan(0);
      const r = await pool.query<{ n: number }>('SELECT n FROM survives');
      expect(r.rows).toEqual([{ n: 42 }]);
    } finally {
      await pool.end();
    }
  });

  it('stop() refuses connections until start()', async () => {
    await db.stop();
    expect(db.pid()).toBeNull();
    const client = new pg.Client({ connectionString: db.url, connectionTimeoutMillis: 2000 });
    await expect(client.connect()).rejects.toThrow(/ECONNREFUSED/);
    await db.start();
    const again = new pg.Client({ connectionString: db.url });
    await again.connect();
    await again.end();
  });

  it('SELECT … FOR UPDATE SKIP LOCKED gives two concurrent claimers different rows', async () => {
    const url = await db.createDatabase('queue_claims');
    const { pool } = poolOn(url);
    const a = await pool.connect();
    const b = await pool.connect();
    try {
      await pool.query('CREATE TABLE queue (id int PRIMARY KEY, claimed_by text)');
      await pool.query('INSERT INTO queue SELECT g, NULL FROM generate_series(1, 3) g');
      const claim = 'SELECT id FROM queue WHERE claimed_by IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED';
      await a.query('BEGIN');
      await b.query('BEGIN');
      const ra = await a.query<{ id: number }>(claim);
      const rb = await b.query<{ id: number }>(claim); // would block here without SKIP LOCKED
      expect(ra.rows).toEqual([{ id: 1 }]);
      expect(rb.rows).toEqual([{ id: 2 }]);
      await a.query("UPDATE queue SET claimed_by = 'a' WHERE id = $1", [ra.rows[0]!.id]);
      await b.query("UPDATE queue SET claimed_by = 'b' WHERE id = $1", [rb.rows[0]!.id]);
      await a.query('COMMIT');
      await b.query('COMMIT');
      const all = await pool.query<{ id: number; claimed_by: string | null }>('SELECT id, claimed_by FROM queue ORDER BY id');
      expect(all.rows).toEqual([
        { id: 1, claimed_by: 'a' },
        { id: 2, claimed_by: 'b' },
        { id: 3, claimed_by: null },
      ]);
    } finally {
      a.release();
      b.release();
      await pool.end();
    }
  });

  it('close() leaves no process of the cluster and no dir', async () => {
    const other = await startPostgres();
    const postmaster = other.pid()!;
    const client = new pg.Client({ connectionString: other.url });
    client.on('error', () => undefined); // the server goes away under it
    await client.connect();
    const backends = childrenOf(postmaster); // checkpointer, walwriter, our backend, …
    expect(backends.length).toBeGreaterThan(0);
    await other.close();
    // Children of a dead postmaster would be re-parented, so look for the pids we saw, not for children.
    expect([postmaster, ...backends].filter(isRunning)).toEqual([]);
    expect(existsSync(other.dir)).toBe(false);
    await other.close(); // twice is fine
    await client.end().catch(() => undefined);
  });

  it('a process that forgets close() leaves nothing running behind when it exits', () => {
    const harness = fileURLToPath(new URL('../support/postgres.ts', import.meta.url));
    const script = `import { startPostgres } from ${JSON.stringify(harness)};
const db = await startPostgres();
console.log(JSON.stringify({ dir: db.dir, pid: db.pid() }));
process.exit(0);`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    const { dir, pid } = JSON.parse(out.trim().split('\n').pop()!) as { dir: string; pid: number };
    expect(pid).toBeGreaterThan(0);
    expect(existsSync(dir)).toBe(false);
    // pg_ctl stop -m immediate -w returned before exit; the postmaster itself goes a moment later.
    const deadline = Date.now() + 5000;
    while (isRunning(pid) && Date.now() < deadline) execFileSync('sleep', ['0.05']);
    expect(isRunning(pid)).toBe(false);
  });
});
