/**
 * SshConnector against a real OpenSSH sshd on loopback (test/support/sshd.ts). Runs as root; the
 * sudo tests add two throwaway users and a sudoers.d entry and remove them afterwards.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeConfig, SshConfig } from '../../src/config/schema.js';
import { TriageError } from '../../src/errors.js';
import { connectorFor } from '../../src/remote/connect.js';
import type { NodeSession, StepRequest } from '../../src/remote/session.js';
import { SshConnector } from '../../src/remote/ssh.js';
import { freePort, generateClientKey, startJumpHost, startSshd, stopAllSshd, type Sshd } from '../support/sshd.js';
import {
  BIG_SCRIPT,
  STAND_IN_SCRIPT,
  ensureUser,
  markerPath,
  nonce,
  pgrep,
  pkill,
  removeMarker,
  removeUser,
  requireCommands,
  waitFor,
} from './helpers.js';

const NO_SUDO_USER = 'pft-test-nosudo';
const SUDO_USER = 'pft-test-sudoer';
const SUDOERS_FILE = '/etc/sudoers.d/pft-test-sudoer';

let sshd: Sshd;
const connector = new SshConnector({ deadlineGraceMs: 500 });

function sshNode(d: Sshd, over: Partial<SshConfig> = {}): NodeConfig {
  return {
    name: 'ssh-node',
    ssh: {
      host: d.host,
      port: d.port,
      user: d.user,
      privateKeyPath: d.privateKeyPath,
      hostKey: d.hostKeyFingerprint,
      sudo: false,
      connectTimeoutSeconds: 5,
      keepaliveSeconds: 5,
      ...over,
    },
  };
}

function step(args: string[], over: Partial<StepRequest> = {}): StepRequest {
  return { script: STAND_IN_SCRIPT, args, timeoutSeconds: 20, maxOutputBytes: 1024 * 1024, ...over };
}

async function failure(p: Promise<unknown>): Promise<TriageError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TriageError);
    return err as TriageError;
  }
  throw new Error('expected a TriageError');
}

async function withSession<T>(node: NodeConfig, fn: (s: NodeSession) => Promise<T>): Promise<T> {
  const session = await connector.open(node, {});
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

beforeAll(async () => {
  requireCommands('pgrep', 'pkill', 'setsid', 'timeout', 'ssh-keygen');
  sshd = await startSshd();
}, 30_000);

afterAll(async () => {
  await stopAllSshd();
}, 30_000);

describe('SshConnector over a real sshd', { timeout: 30_000 }, () => {
  it('runs a step: stdout, stderr, exit code, the script from stdin, the arguments', async () => {
    const node = sshNode(sshd);
    expect(connectorFor(node)).toBeInstanceOf(SshConnector);
    await withSession(node, async (s) => {
      expect(s.address).toBe('127.0.0.1');
      const out = await s.run(step(['hello', 'abc123']));
      expect(out).toMatchObject({ stdout: 'hello abc123 uid=0 sum=42\n', exitCode: 3, exitSignal: null, truncated: false });
      expect(out.stderr).toBe('to stderr\n');
      // A second step on the same connection.
      const again = await s.run(step(['hello', 'second']));
      expect(again.stdout).toBe('hello second uid=0 sum=42\n');
    });
  });

  it('sends the whole script on stdin, however large', async () => {
    await withSession(sshNode(sshd), async (s) => {
      const out = await s.run(step(['hello', 'big'], { script: BIG_SCRIPT }));
      expect(out.stdout).toBe('hello big uid=0 sum=42\n');
    });
  });

  it('reports what connect and a step cost over loopback', async () => {
    const opens: number[] = [];
    const steps: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const s = await connector.open(sshNode(sshd), {});
      opens.push(performance.now() - t0);
      const t1 = performance.now();
      await s.run(step(['hello', 'x']));
      steps.push(performance.now() - t1);
      await s.close();
    }
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[2] ?? NaN;
    // The step includes the login shell's start-up on the node (for root here, ~/.bashrc).
    console.log(`ssh over loopback: open (tcp + kex + host key + auth) median ${median(opens).toFixed(0)} ms, one step median ${median(steps).toFixed(0)} ms`);
    expect(median(opens) + median(steps)).toBeLessThan(3000);
  });

  it('bounds a step with the node-side timeout', async () => {
    const id = nonce();
    await withSession(sshNode(sshd), async (s) => {
      const t0 = Date.now();
      const out = await s.run(step(['wait', id], { timeoutSeconds: 1 }));
      expect(out.exitCode).toBe(124); // timeout(1)'s "timed out"
      expect(Date.now() - t0).toBeLessThan(4000);
    });
    expect(pgrep(id)).toEqual([]);
  });

  it('refuses a host whose key does not match, before authenticating, so nothing runs', async () => {
    const own = await startSshd({ logLevel: 'DEBUG1' });
    const wrong = await startSshd();
    const id = nonce();
    removeMarker(id);
    // Configured with another host's key.
    const node = sshNode(own, { hostKey: wrong.hostKeyFingerprint });
    const err = await failure(connector.open(node, {}));
    expect(err.code).toBe('host_key_mismatch');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(own.hostKeyFingerprint); // presented
    expect(err.message).toContain(wrong.hostKeyFingerprint); // expected
    expect(existsSync(markerPath(id))).toBe(false);
    await waitFor('sshd to log the closed connection', () => /Connection (closed|reset)/.test(own.logs()), 5000);
    const log = own.logs();
    expect(log).toMatch(/Connection from 127\.0\.0\.1/);
    expect(log).not.toMatch(/userauth-request|Accepted publickey|session_new|Starting session/);

    // Control: with the right key the same stand-in does create its marker and sshd logs the login.
    await withSession(sshNode(own), (s) => s.run(step(['marker', id])));
    expect(existsSync(markerPath(id))).toBe(true);
    expect(own.logs()).toMatch(/Accepted publickey for root/);
    removeMarker(id);
    await own.stop();
    await wrong.stop();
  });

  it('fails fast with unreachable on a closed port', async () => {
    const port = await freePort();
    const t0 = Date.now();
    const err = await failure(connector.open(sshNode(sshd, { port }), {}));
    expect(err.code).toBe('unreachable');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('ECONNREFUSED');
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('gives up with connect_timeout on a server that accepts but never speaks SSH', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((sock) => sockets.push(sock));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const t0 = Date.now();
      const err = await failure(connector.open(sshNode(sshd, { port, connectTimeoutSeconds: 1 }), {}));
      const took = Date.now() - t0;
      expect(err.code).toBe('connect_timeout');
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(2000);
    } finally {
      sockets.forEach((s) => s.destroy());
      silent.close();
    }
  });

  it('aborting while connecting gives up at once with cancelled', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((sock) => sockets.push(sock));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 200);
      const t0 = Date.now();
      const err = await failure(connector.open(sshNode(sshd, { port, connectTimeoutSeconds: 10 }), { signal: ac.signal }));
      expect(err.code).toBe('cancelled');
      expect(Date.now() - t0).toBeLessThan(1000);
    } finally {
      sockets.forEach((s) => s.destroy());
      silent.close();
    }
  });

  it('maps a key the server does not accept to auth_refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pft-test-stranger-'));
    try {
      const stranger = generateClientKey(dir);
      const err = await failure(connector.open(sshNode(sshd, { privateKeyPath: stranger.privateKeyPath }), {}));
      expect(err.code).toBe('auth_refused');
      expect(err.message).toContain('user root');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('uses a passphrase-protected key with its passphrase, and says so when the passphrase is wrong', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pft-test-passkey-'));
    try {
      const privateKeyPath = join(dir, 'id_ed25519');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'correct horse', '-C', 'pft-test', '-f', privateKeyPath]);
      const publicKey = readFileSync(`${privateKeyPath}.pub`, 'utf8').trim();
      const locked = await startSshd({ clientKey: { privateKeyPath, publicKeyPath: `${privateKeyPath}.pub`, publicKey } });
      try {
        await withSession(sshNode(locked, { passphrase: 'correct horse' }), async (s) => {
          expect((await s.run(step(['hello', 'locked']))).stdout).toMatch(/^hello locked /);
        });
        for (const passphrase of ['wrong', undefined]) {
          const err = await failure(connector.open(sshNode(locked, { passphrase }), {}));
          expect(err.code).toBe('config_invalid');
          expect(err.message).toContain('private key');
        }
      } finally {
        await locked.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('maps a missing key file to config_invalid', async () => {
    const err = await failure(connector.open(sshNode(sshd, { privateKeyPath: '/nonexistent/id_ed25519' }), {}));
    expect(err.code).toBe('config_invalid');
  });

  it('keeps the first maxOutputBytes of a flood, drops the rest and stays bounded in memory', async () => {
    const cap = 1024 * 1024;
    const flood = 200 * 1024 * 1024;
    await withSession(sshNode(sshd), async (s) => {
      global.gc?.();
      const base = process.memoryUsage();
      let peak = 0;
      const sampler = setInterval(() => {
        const m = process.memoryUsage();
        peak = Math.max(peak, m.heapUsed + m.arrayBuffers - (base.heapUsed + base.arrayBuffers));
      }, 20);
      const out = await s.run(step(['flood', String(flood)], { maxOutputBytes: cap, timeoutSeconds: 60 })).finally(() => clearInterval(sampler));
      expect(out.truncated).toBe(true);
      expect(out.stdout.length).toBe(cap);
      expect(out.exitCode).toBe(0);
      expect(out.stderr).toBe('flood done\n'); // it ran to its end
      // Without the cap this would hold 200 MiB of buffers (and more as a string).
      expect(peak).toBeLessThan(64 * 1024 * 1024);
    });
  }, 60_000);

  it('aborting a step kills it on the node and closes the connection', async () => {
    const id = nonce();
    const ac = new AbortController();
    const session = await connector.open(sshNode(sshd), {});
    const running = session.run(step(['wait', id], { timeoutSeconds: 60, signal: ac.signal }));
    await waitFor('the step to start', () => pgrep(`pft-wait-${id}`).length > 0, 5000);
    ac.abort();
    const err = await failure(running);
    expect(err.code).toBe('cancelled');
    const gone = await waitFor('the step to die on the node', () => pgrep(id).length === 0, 3000);
    console.log(`ssh abort: remote step gone ${gone} ms after abort`);
    const again = await failure(session.run(step(['hello', 'x'])));
    expect(again.code).toBe('internal');
    await session.close();
  });

  it('reports connection_lost when the connection drops mid-step', async () => {
    const id = nonce();
    try {
      await withSession(sshNode(sshd), async (s) => {
        const running = s.run(step(['wait', id], { timeoutSeconds: 60 }));
        await waitFor('the step to start', () => pgrep(`pft-wait-${id}`).length > 0, 5000);
        // Kill the per-connection sshd serving this step (the listener's child above it).
        let pid = pgrep(`pft-wait-${id}`)[0] ?? 0;
        for (;;) {
          const ppid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
          if (ppid === sshd.pid) break;
          pid = ppid;
          if (pid <= 1) throw new Error('the step is not under the test sshd');
        }
        process.kill(pid, 'SIGKILL');
        const t0 = Date.now();
        const err = await failure(running);
        expect(err.code).toBe('connection_lost');
        expect(err.retryable).toBe(true);
        expect(Date.now() - t0).toBeLessThan(2000);
        expect((await failure(s.run(step(['hello', 'x'])))).code).toBe('connection_lost');
      });
    } finally {
      pkill(id); // sshd's death does not stop the step: only its node-side timeout would
    }
  });

  it('gives up with deadline_exceeded when a step outlives its node-side timeout', async () => {
    const id = nonce();
    try {
      await withSession(sshNode(sshd), async (s) => {
        const t0 = Date.now();
        // A descendant in its own session keeps stdout open after timeout has killed the step.
        const err = await failure(s.run(step(['escape', id], { timeoutSeconds: 1 })));
        expect(err.code).toBe('deadline_exceeded');
        const took = Date.now() - t0;
        expect(took).toBeGreaterThanOrEqual(3500); // 1 s + 2 s kill-after + 0.5 s grace
        expect(took).toBeLessThan(6000);
      });
    } finally {
      pkill(`pft-escape-${id}`);
    }
  });

  it('works through a jump host, whose key is verified too', async () => {
    const jump = await startJumpHost({ clientKey: sshd.clientKey });
    try {
      const jumpHost = { host: jump.host, port: jump.port, user: 'root', hostKey: jump.hostKeyFingerprint };
      await withSession(sshNode(sshd, { jumpHost }), async (s) => {
        const out = await s.run(step(['hello', 'via-jump']));
        expect(out.stdout).toBe('hello via-jump uid=0 sum=42\n');
      });
      expect(jump.logs()).toMatch(/Accepted publickey for root/);

      const badKey = await failure(connector.open(sshNode(sshd, { jumpHost: { ...jumpHost, hostKey: sshd.hostKeyFingerprint } }), {}));
      expect(badKey.code).toBe('host_key_mismatch');
      expect(badKey.message).toContain(`jump host 127.0.0.1:${jump.port}`);

      // The target's key is still checked behind the jump host.
      const badTarget = await failure(connector.open(sshNode(sshd, { jumpHost, hostKey: jump.hostKeyFingerprint }), {}));
      expect(badTarget.code).toBe('host_key_mismatch');
      expect(badTarget.message).toContain(`127.0.0.1:${sshd.port} presented`);

      // A jump host that does not forward.
      const noForward = { ...jumpHost, port: sshd.port, hostKey: sshd.hostKeyFingerprint };
      const refused = await failure(connector.open(sshNode(sshd, { jumpHost: noForward }), {}));
      expect(refused.code).toBe('unreachable');
      expect(refused.message).toMatch(/could not connect to 127\.0\.0\.1:\d+/);
    } finally {
      await jump.stop();
    }
  });

  describe('non-root logins and sudo', () => {
    let userSshd: Sshd;
    let keysDir: string;

    beforeAll(async () => {
      requireCommands('sudo', 'visudo', 'useradd', 'usermod', 'userdel');
      ensureUser(NO_SUDO_USER);
      ensureUser(SUDO_USER);
      // The helper's authorized_keys is readable by root only: give the test users their own.
      keysDir = mkdtempSync(join(tmpdir(), 'pft-test-userkeys-'));
      chmodSync(keysDir, 0o755);
      const key = generateClientKey(keysDir);
      writeFileSync(join(keysDir, 'authorized_keys'), `${key.publicKey}\n`, { mode: 0o644 });
      userSshd = await startSshd({
        clientKey: key,
        extraConfig: [`Match User ${NO_SUDO_USER},${SUDO_USER}`, `  AuthorizedKeysFile ${join(keysDir, 'authorized_keys')}`],
      });
      // The one command the bot runs through sudo (timeout, which can in turn run anything as root).
      writeFileSync(SUDOERS_FILE, `${SUDO_USER} ALL=(root) NOPASSWD: /usr/bin/timeout\n`, { mode: 0o440 });
      execFileSync('visudo', ['-c', '-f', SUDOERS_FILE], { stdio: 'pipe' });
    }, 30_000);

    afterAll(async () => {
      await userSshd?.stop();
      if (keysDir) rmSync(keysDir, { recursive: true, force: true });
      rmSync(SUDOERS_FILE, { force: true });
      removeUser(NO_SUDO_USER);
      removeUser(SUDO_USER);
    }, 30_000);

    it('runs the step as root through sudo -n', async () => {
      await withSession(sshNode(userSshd, { user: SUDO_USER, sudo: true }), async (s) => {
        const out = await s.run(step(['hello', 'sudo']));
        expect(out.stdout).toBe('hello sudo uid=0 sum=42\n');
        expect(out.exitCode).toBe(3);
      });
    });

    it('reports sudo_refused for a user without sudo rights, and nothing runs', async () => {
      const id = nonce();
      removeMarker(id);
      await withSession(sshNode(userSshd, { user: NO_SUDO_USER, sudo: true }), async (s) => {
        const err = await failure(s.run(step(['marker', id])));
        expect(err.code).toBe('sudo_refused');
        expect(err.retryable).toBe(false);
        expect(err.message).toContain('sudo: a password is required');
        expect(err.message).toContain(NO_SUDO_USER);
      });
      expect(existsSync(markerPath(id))).toBe(false);
    });

    it('the same user without sudo runs the step as itself', async () => {
      await withSession(sshNode(userSshd, { user: NO_SUDO_USER }), async (s) => {
        const out = await s.run(step(['hello', 'plain']));
        expect(out.stdout).toMatch(/^hello plain uid=[1-9]\d* sum=42\n$/);
      });
    });

    it.each([
      ['through sudo', SUDO_USER, true],
      ['for a user whose login shell is dash', NO_SUDO_USER, false],
    ] as const)('aborting kills the step on the node %s', async (_, user, sudo) => {
      const id = nonce();
      const ac = new AbortController();
      const session = await connector.open(sshNode(userSshd, { user, sudo }), {});
      const running = session.run(step(['wait', id], { timeoutSeconds: 60, signal: ac.signal }));
      await waitFor('the step to start', () => pgrep(`pft-wait-${id}`).length > 0, 5000);
      ac.abort();
      expect((await failure(running)).code).toBe('cancelled');
      await waitFor('the step to die on the node', () => pgrep(id).length === 0, 3000);
      await session.close();
    });
  });
});
