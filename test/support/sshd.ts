/**
 * A real OpenSSH sshd for tests: /usr/sbin/sshd -D -e -f CONFIG on 127.0.0.1, a free port, its own temp dir
 * (host key, client key pair, authorized_keys, pid file, config). Also usable as a jump host
 * (allowTcpForwarding: true).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const SSHD_BINARY = '/usr/sbin/sshd';

export interface ClientKey {
  /** OpenSSH-format ed25519 private key, no passphrase. */
  privateKeyPath: string;
  publicKeyPath: string;
  /** "ssh-ed25519 AAAA... comment" */
  publicKey: string;
}

export interface SshdOptions {
  /** AllowTcpForwarding (default false; true for a jump host). */
  allowTcpForwarding?: boolean;
  /** Reuse this client key instead of generating one (e.g. the same key for a jump host and its target). */
  clientKey?: ClientKey;
  /** More public key lines to authorize, besides the client key. */
  authorizedKeys?: string[];
  /** Extra sshd_config lines, appended at the end (first value wins in sshd_config, so they cannot override). */
  extraConfig?: string[];
  /** sshd LogLevel (default VERBOSE). */
  logLevel?: string;
  /** How long to wait for the port to greet with an SSH banner (default 15 s). */
  startTimeoutMs?: number;
}

export interface Sshd {
  host: '127.0.0.1';
  port: number;
  user: 'root';
  privateKeyPath: string;
  publicKeyPath: string;
  /** The client's public key line. */
  publicKey: string;
  clientKey: ClientKey;
  /** Host key fingerprint exactly as `ssh-keygen -lf hostkey.pub` prints it: "SHA256:..." */
  hostKeyFingerprint: string;
  /** Host public key line "ssh-ed25519 AAAA... comment". */
  hostPublicKey: string;
  /** A known_hosts file with "[127.0.0.1]:PORT ssh-ed25519 AAAA...". */
  knownHostsPath: string;
  dir: string;
  configPath: string;
  /** pid of the listening sshd. */
  pid: number;
  allowTcpForwarding: boolean;
  /** sshd's stderr (-e) so far. */
  logs(): string;
  /** Kill the listener and its per-connection children, wait for them, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errText(e: unknown): string {
  if (typeof e === 'object' && e !== null) {
    const o = e as { stderr?: unknown; message?: unknown };
    const stderr = o.stderr === undefined ? '' : String(o.stderr).trim();
    if (stderr) return stderr;
    if (o.message !== undefined) return String(o.message);
  }
  return String(e);
}

function requireTools(): void {
  if (!fs.existsSync(SSHD_BINARY)) {
    throw new Error(
      `OpenSSH server not found at ${SSHD_BINARY}: install the Debian package openssh-server (apt-get install openssh-server)`,
    );
  }
  try {
    execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') {
      throw new Error('ssh-keygen not found: install the Debian package openssh-client');
    }
    /* ssh-keygen -? exits non-zero: fine */
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error(`a test sshd that accepts root logins needs root (uid 0); this process runs as uid ${process.getuid()}`);
  }
}

function keygen(file: string, comment: string): void {
  try {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    throw new Error(`ssh-keygen -t ed25519 -f ${file} failed: ${errText(e)}`);
  }
}

/** The SHA256:... part of `ssh-keygen -lf PUBFILE`. */
export function fingerprintOf(pubKeyPath: string): string {
  const out = execFileSync('ssh-keygen', ['-lf', pubKeyPath], { encoding: 'utf8' });
  const m = /\b(SHA256:[A-Za-z0-9+/]+)/.exec(out);
  if (!m) throw new Error(`cannot parse fingerprint from \`ssh-keygen -lf ${pubKeyPath}\`: ${out.trim()}`);
  return m[1]!;
}

/** SHA256 fingerprint of a raw host key blob (what ssh2's hostVerifier receives), in ssh-keygen's format. */
export function fingerprintOfBlob(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Temp dirs made by generateClientKey() without a dir: removed by stopAllSshd() and at exit. */
const ownedKeyDirs = new Set<string>();

/** Generate an ed25519 client key pair in dir (default: a new pft-test-sshkey-<pid>-* temp dir). */
export function generateClientKey(dir?: string): ClientKey {
  let d = dir;
  if (d === undefined) {
    sweepStale();
    d = fs.mkdtempSync(path.join(os.tmpdir(), `pft-test-sshkey-${process.pid}-`));
    ownedKeyDirs.add(d);
  }
  const privateKeyPath = path.join(d, 'id_ed25519');
  keygen(privateKeyPath, 'pft-test-client');
  return {
    privateKeyPath,
    publicKeyPath: `${privateKeyPath}.pub`,
    publicKey: fs.readFileSync(`${privateKeyPath}.pub`, 'utf8').trim(),
  };
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves true once something on host:port sends an SSH banner. */
function bannerOk(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      if (buf.includes('\n')) done(buf.startsWith('SSH-2.0-'));
    });
    sock.on('error', () => done(false));
    sock.on('close', () => done(false));
  });
}

function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const ent of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue;
    try {
      const s = fs.readFileSync(`/proc/${ent}/stat`, 'utf8');
      const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === ppid) out.push(Number(ent));
    } catch {
      /* gone */
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = s.slice(s.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

async function waitDead(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let left = pids.filter(alive);
  while (left.length && Date.now() < deadline) {
    await sleep(25);
    left = left.filter(alive);
  }
  return left;
}

/**
 * Clean up after test processes that died without stopping their sshd: kill an sshd still running from a
 * pft-test-sshd-<deadpid>-* dir (its listener keeps serving forever otherwise) and remove such dirs.
 */
function sweepStale(): void {
  let names: string[] = [];
  try {
    names = fs.readdirSync(os.tmpdir());
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^pft-test-ssh(d|key)-(\d+)-/.exec(n);
    if (!m || Number(m[2]) === process.pid || fs.existsSync(`/proc/${m[2]}`)) continue;
    const dir = path.join(os.tmpdir(), n);
    if (m[1] === 'd') {
      try {
        const pid = Number(fs.readFileSync(path.join(dir, 'sshd.pid'), 'utf8').trim());
        const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmdline.includes(path.join(dir, 'sshd_config'))) process.kill(pid, 'SIGTERM');
      } catch {
        /* no pid file or not running */
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const running = new Set<{ stopSync(): void; stop(): Promise<void> }>();

function buildConfig(dir: string, port: number, o: SshdOptions): string {
  const lines = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    'AddressFamily inet',
    `HostKey ${path.join(dir, 'ssh_host_ed25519_key')}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'HostbasedAuthentication no',
    'StrictModes no',
    'UsePAM no',
    `AllowTcpForwarding ${o.allowTcpForwarding ? 'yes' : 'no'}`,
    'AllowAgentForwarding no',
    'X11Forwarding no',
    'PermitTunnel no',
    'PrintMotd no',
    'PrintLastLog no',
    'UseDNS no',
    'MaxStartups 100:30:200',
    'MaxSessions 64',
    'MaxAuthTries 6',
    'LoginGraceTime 30',
    'ClientAliveInterval 0',
    `LogLevel ${o.logLevel ?? 'VERBOSE'}`,
    'Subsystem sftp internal-sftp',
    ...(o.extraConfig ?? []),
  ];
  return `${lines.join('\n')}\n`;
}

interface Started {
  child: ChildProcess;
  log: () => string;
  exitP: Promise<void>;
  configPath: string;
}

async function startOnce(o: SshdOptions, dir: string, port: number): Promise<Started | 'port-in-use'> {
  const configPath = path.join(dir, 'sshd_config');
  fs.writeFileSync(configPath, buildConfig(dir, port, o));
  try {
    execFileSync(SSHD_BINARY, ['-t', '-f', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`sshd -t rejected ${configPath}: ${errText(e)}`);
  }
  const child: ChildProcess = spawn(SSHD_BINARY, ['-D', '-e', '-f', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const onLog = (d: Buffer): void => {
    log += d.toString('utf8');
    if (log.length > 1_000_000) log = log.slice(-1_000_000);
  };
  child.stdout!.on('data', onLog);
  child.stderr!.on('data', onLog);
  let exited = false;
  const exitP = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  child.on('error', (e) => {
    log += `\nspawn error: ${e.message}\n`;
  });

  const deadline = Date.now() + (o.startTimeoutMs ?? 15_000);
  for (;;) {
    if (exited) {
      if (/Address already in use/i.test(log)) return 'port-in-use';
      throw new Error(`sshd exited during start (code ${child.exitCode}, signal ${child.signalCode}); log:\n${log}`);
    }
    if (await bannerOk(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`sshd on 127.0.0.1:${port} did not greet within ${o.startTimeoutMs ?? 15_000} ms; log:\n${log}`);
    }
    await sleep(50);
  }
  return { child, log: () => log, exitP, configPath };
}

/** Start a real sshd on 127.0.0.1 with a free port; resolves once the port answers with an SSH banner. */
export async function startSshd(opts: SshdOptions = {}): Promise<Sshd> {
  requireTools();
  // Privilege-separation directory sshd insists on (absent in containers until the service first ran).
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  sweepStale();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pft-test-sshd-${process.pid}-`));
  try {
    const hostKey = path.join(dir, 'ssh_host_ed25519_key');
    keygen(hostKey, 'pft-test-host');
    fs.chmodSync(hostKey, 0o600);
    const clientKey = opts.clientKey ?? generateClientKey(dir);
    fs.writeFileSync(
      path.join(dir, 'authorized_keys'),
      `${[clientKey.publicKey, ...(opts.authorizedKeys ?? [])].join('\n')}\n`,
      { mode: 0o600 },
    );
    const hostPublicKey = fs.readFileSync(`${hostKey}.pub`, 'utf8').trim();
    const hostKeyFingerprint = fingerprintOf(`${hostKey}.pub`);

    let started: Started | undefined;
    let port = 0;
    for (let attempt = 0; attempt < 5 && !started; attempt++) {
      port = await freePort();
      const r = await startOnce(opts, dir, port);
      if (r !== 'port-in-use') started = r;
    }
    if (!started) throw new Error('sshd: could not find a free port on 127.0.0.1 after 5 attempts');
    const { child, log, exitP, configPath } = started;
    const pid = child.pid!;

    const knownHostsPath = path.join(dir, 'known_hosts');
    const [ktype, kblob] = hostPublicKey.split(' ');
    fs.writeFileSync(knownHostsPath, `[127.0.0.1]:${port} ${ktype} ${kblob}\n`);

    let stopping: Promise<void> | undefined;
    const entry = {
      stopSync(): void {
        for (const p of [...childrenOf(pid), pid]) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
        fs.rmSync(dir, { recursive: true, force: true });
      },
      stop(): Promise<void> {
        stopping ??= (async () => {
          // Per-connection sshd processes outlive the listener: end them too.
          const kids = childrenOf(pid);
          for (const p of kids) {
            try {
              process.kill(p, 'SIGTERM');
            } catch {
              /* gone */
            }
          }
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGTERM');
            const r = await Promise.race([exitP.then(() => 'exit'), sleep(5000).then(() => 'timeout')]);
            if (r === 'timeout') {
              child.kill('SIGKILL');
              await exitP;
            }
          }
          let left = await waitDead(kids, 5000);
          for (const p of left) {
            try {
              process.kill(p, 'SIGKILL');
            } catch {
              /* gone */
            }
          }
          left = await waitDead(left, 5000);
          running.delete(entry);
          fs.rmSync(dir, { recursive: true, force: true });
          if (left.length) throw new Error(`sshd session processes still alive after stop: ${left.join(', ')}`);
        })();
        return stopping;
      },
    };
    running.add(entry);
    return {
      host: '127.0.0.1',
      port,
      user: 'root',
      privateKeyPath: clientKey.privateKeyPath,
      publicKeyPath: clientKey.publicKeyPath,
      publicKey: clientKey.publicKey,
      clientKey,
      hostKeyFingerprint,
      hostPublicKey,
      knownHostsPath,
      dir,
      configPath,
      pid,
      allowTcpForwarding: opts.allowTcpForwarding ?? false,
      logs: log,
      stop: () => entry.stop(),
    };
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Wait until sshd's log matches re (session processes log asynchronously; after a synchronous
 * spawnSync the event loop must run before their lines arrive). Returns the log.
 */
export async function waitForLog(s: Pick<Sshd, 'logs' | 'port'>, re: RegExp, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = s.logs();
    if (re.test(log)) return log;
    if (Date.now() > deadline) throw new Error(`sshd on port ${s.port}: log did not match ${re} within ${timeoutMs} ms; log:\n${log}`);
    await sleep(25);
  }
}

/** An sshd to use as a jump host: like startSshd, with AllowTcpForwarding yes. */
export function startJumpHost(opts: SshdOptions = {}): Promise<Sshd> {
  return startSshd({ ...opts, allowTcpForwarding: true });
}

/** Stop every sshd this process started (for afterAll). */
export async function stopAllSshd(): Promise<void> {
  const results = await Promise.allSettled([...running].map((r) => r.stop()));
  for (const d of ownedKeyDirs) fs.rmSync(d, { recursive: true, force: true });
  ownedKeyDirs.clear();
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length) throw new Error(`stopAllSshd: ${failed.map((f) => errText(f.reason)).join('; ')}`);
}

process.on('exit', () => {
  for (const r of [...running]) {
    try {
      r.stopSync();
    } catch {
      /* best effort */
    }
  }
  for (const d of ownedKeyDirs) fs.rmSync(d, { recursive: true, force: true });
});
