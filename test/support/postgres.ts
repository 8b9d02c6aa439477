/**
 * A real PostgreSQL 15 cluster (Debian's `postgresql`) for tests, private to the test that starts it.
 *
 * `startPostgres()` runs `initdb` into a fresh temp dir and `pg_ctl start` on a free loopback port,
 * as the unprivileged `postgres` user when the tests run as root (PostgreSQL refuses root). Auth is
 * `trust` on 127.0.0.1 only; the Unix socket lives in the same temp dir, so nothing is shared with
 * a system cluster. `restart()` is `pg_ctl restart` (an outage of about a second, for "the database
 * went away" tests); `close()` stops it with `-m fast` and removes the dir. A process-exit hook
 * stops any cluster a test forgot (a SIGKILLed test process still leaks one).
 *
 * Durability is off (fsync, full_page_writes): the cluster is thrown away after the test.
 */
import { execFile, execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './alertmanager.js';

const BIN = '/usr/lib/postgresql/15/bin';
const run = promisify(execFile);

export interface Postgres {
  /** `postgres://USER@127.0.0.1:PORT/postgres` (trust auth, no password). */
  url: string;
  port: number;
  /** The temp dir holding the data directory (`data/`), the socket and the server log. */
  dir: string;
  /** The superuser `initdb` created. */
  user: string;
  /** `CREATE DATABASE name`, and its URL. Names are plain identifiers ([a-z_][a-z0-9_]*). */
  createDatabase(name: string): Promise<string>;
  /** `pg_ctl stop -m fast`: clients see their connections cut; the data stays for `start()`. */
  stop(): Promise<void>;
  /** `pg_ctl start`, resolving once it accepts connections. */
  start(): Promise<void>;
  /** `pg_ctl restart -m fast`, resolving once it accepts connections again. */
  restart(): Promise<void>;
  /** The postmaster's pid, or null while stopped. */
  pid(): number | null;
  /** The server log (to explain a failure). */
  log(): string;
  /** Stops the cluster and removes its dir. Safe to call twice. */
  close(): Promise<void>;
}

interface Owner {
  uid: number;
  gid: number;
}

const live = new Map<string, Owner | null>();
let exitHookInstalled = false;

/** Stops every cluster still running when the test process exits (synchronously: 'exit' allows nothing else). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [dir, owner] of live) {
      try {
        execFileSync(join(BIN, 'pg_ctl'), ['-D', join(dir, 'data'), 'stop', '-m', 'immediate', '-w'], { stdio: 'ignore', timeout: 10_000, cwd: dir, ...(owner ?? {}) });
      } catch {
        /* already stopped */
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

function requireBinaries(): void {
  for (const name of ['initdb', 'pg_ctl', 'postgres']) {
    if (!existsSync(join(BIN, name))) {
      throw new Error(`${join(BIN, name)} is missing: install Debian's PostgreSQL 15 (apt-get install -y postgresql, or sh scripts/install-test-deps.sh)`);
    }
  }
}

/** Who runs the cluster: `postgres` when we are root (PostgreSQL refuses root), else ourselves. */
function clusterOwner(): Owner | null {
  if (process.getuid?.() !== 0) return null;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error("user 'postgres' is missing: install Debian's postgresql (it creates the user), or run the tests as a non-root user");
  }
}

/** True while `pid` exists and is not a zombie waiting for its (re-)parent to reap it. */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export async function startPostgres(opts: { user?: string } = {}): Promise<Postgres> {
  requireBinaries();
  const owner = clusterOwner();
  const user = opts.user ?? 'pft';
  const dir = mkdtempSync(join(tmpdir(), 'pft-pg-'));
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  mkdirSync(data, { mode: 0o700 });
  if (owner) for (const p of [dir, data]) chownSync(p, owner.uid, owner.gid);
  live.set(dir, owner);
  installExitHook();

  const asOwner = async (bin: string, args: string[], timeoutMs = 60_000): Promise<void> => {
    try {
      await run(join(BIN, bin), args, { timeout: timeoutMs, cwd: dir, ...(owner ?? {}), env: { ...process.env, LC_ALL: 'C' } });
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      throw new Error(`${bin} ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}\n--- server log ---\n${readLog()}`);
    }
  };
  const readLog = (): string => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');

  let port = 0;
  const ctl = (action: 'start' | 'stop' | 'restart'): Promise<void> =>
    asOwner('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', ...(action === 'start' ? [] : ['-m', 'fast']), action]);

  try {
    await asOwner('initdb', ['-D', data, '-U', user, '--auth=trust', '--no-sync', '-E', 'UTF8', '--no-instructions']);
    // A port bound and released can be taken by someone else before the postmaster binds it: retry.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      // Settings live in postgresql.conf (last one wins) so stop/start/restart keep them.
      appendFileSync(data + '/postgresql.conf', `\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\nfsync = off\nfull_page_writes = off\nsynchronous_commit = off\n`);
      try {
        await ctl('start');
        break;
      } catch (err) {
        if (attempt >= 5 || !/could not bind|Address already in use/.test(readLog())) throw err;
      }
    }
  } catch (err) {
    live.delete(dir);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const url = (db: string): string => `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${db}`;
  let closed = false;
  const pid = (): number | null => {
    const pidFile = join(data, 'postmaster.pid');
    if (!existsSync(pidFile)) return null;
    const n = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    return Number.isInteger(n) && n > 0 ? n : null;
  };

  return {
    url: url('postgres'),
    port,
    dir,
    user,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a plain database name: ${JSON.stringify(name)}`);
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop: () => ctl('stop'),
    start: () => ctl('start'),
    restart: () => ctl('restart'),
    pid,
    log: readLog,
    async close() {
      if (closed) return;
      closed = true;
      const postmaster = pid();
      if (postmaster !== null) {
        await ctl('stop');
        // pg_ctl returns once postmaster.pid is gone; the process itself may take a moment longer.
        for (let i = 0; i < 100 && isRunning(postmaster); i++) await new Promise((r) => setTimeout(r, 50));
      }
      live.delete(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
