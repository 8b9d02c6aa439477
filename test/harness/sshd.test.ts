import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import ssh2 from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import {
  fingerprintOf,
  fingerprintOfBlob,
  generateClientKey,
  startJumpHost,
  startSshd,
  stopAllSshd,
  waitForLog,
  type Sshd,
} from '../support/sshd.js';

const { Client } = ssh2;

const BASE_OPTS = ['-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'ConnectTimeout=10', '-o', 'LogLevel=ERROR'];

function ssh(s: Sshd, args: string[], extra: string[] = []): ReturnType<typeof spawnSync> {
  return spawnSync(
    'ssh',
    [...BASE_OPTS, '-i', s.privateKeyPath, '-p', String(s.port), ...extra, `${s.user}@${s.host}`, ...args],
    { encoding: 'utf8', timeout: 30_000 },
  );
}

const NO_HOSTKEY_CHECK = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'];

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

function ssh2Exec(conn: InstanceType<typeof Client>, cmd: string): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    conn.exec(cmd, (err, stream) => {
      if (err) return reject(err);
      let out = '';
      stream.on('data', (d: Buffer) => (out += d.toString('utf8')));
      stream.stderr.on('data', () => undefined);
      stream.on('close', (code: number | null) => resolve({ out, code }));
    });
  });
}

function ssh2Connect(opts: ssh2.ConnectConfig): Promise<InstanceType<typeof Client>> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.on('ready', () => resolve(c));
    c.on('error', reject);
    c.connect(opts);
  });
}

describe('test sshd (real OpenSSH)', () => {
  afterAll(async () => {
    await stopAllSshd();
  });

  it('accepts the OpenSSH client with the generated key, and the fingerprint matches', async () => {
    const t0 = performance.now();
    const s = await startSshd();
    console.log(`[time] sshd start: ${(performance.now() - t0).toFixed(0)} ms (port ${s.port})`);
    expect(s.host).toBe('127.0.0.1');
    expect(s.user).toBe('root');

    const r = ssh(s, ['true'], NO_HOSTKEY_CHECK);
    expect(r.status, String(r.stderr)).toBe(0);
    const echo = ssh(s, ['echo', 'hello-$(id -u)'], NO_HOSTKEY_CHECK);
    expect(echo.stdout).toBe('hello-0\n');

    // Fingerprint: as ssh-keygen -lf prints it, and as the server presents it.
    expect(s.hostKeyFingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(fingerprintOf(`${s.dir}/ssh_host_ed25519_key.pub`)).toBe(s.hostKeyFingerprint);
    const scanned = execFileSync('ssh-keyscan', ['-t', 'ed25519', '-p', String(s.port), '127.0.0.1'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const fromScan = execFileSync('ssh-keygen', ['-lf', '-'], { input: scanned, encoding: 'utf8' });
    expect(fromScan).toContain(s.hostKeyFingerprint);
    const verbose = ssh(s, ['true'], [...NO_HOSTKEY_CHECK, '-v']);
    expect(verbose.stderr).toContain(`Server host key: ssh-ed25519 ${s.hostKeyFingerprint}`);

    // Strict checking against the generated known_hosts works; a different known host key is refused.
    const strict = ssh(s, ['true'], ['-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${s.knownHostsPath}`]);
    expect(strict.status, String(strict.stderr)).toBe(0);
    const other = await startSshd();
    const wrongKh = `${s.dir}/wrong_known_hosts`;
    fs.writeFileSync(wrongKh, fs.readFileSync(other.knownHostsPath, 'utf8').replace(`:${other.port}]`, `:${s.port}]`));
    const mismatch = ssh(s, ['true'], ['-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${wrongKh}`]);
    expect(mismatch.status).toBe(255);
    expect(String(mismatch.stderr)).toMatch(/HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    await other.stop();

    // Other keys and passwords are refused.
    const stranger = generateClientKey(); // its own pft-test-sshkey-<pid>-* temp dir, removed by stopAllSshd()
    expect(fs.existsSync(stranger.privateKeyPath)).toBe(true);
    const refused = spawnSync(
      'ssh',
      [...BASE_OPTS, ...NO_HOSTKEY_CHECK, '-i', stranger.privateKeyPath, '-p', String(s.port), 'root@127.0.0.1', 'true'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(refused.status).toBe(255);
    expect(refused.stderr).toMatch(/Permission denied \(publickey\)/);

    await waitForLog(s, /Accepted publickey for root from 127\.0\.0\.1/);

    // stop(): listener and session processes gone, port closed, temp dir removed.
    const pid = s.pid;
    await s.stop();
    expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
    expect(await portOpen(s.port)).toBe(false);
    expect(fs.existsSync(s.dir)).toBe(false);
  });

  it('works as a jump host (AllowTcpForwarding yes) while the target refuses forwarding', async () => {
    const target = await startSshd();
    const jump = await startJumpHost({ clientKey: target.clientKey });
    expect(jump.allowTcpForwarding).toBe(true);
    expect(fs.readFileSync(jump.configPath, 'utf8')).toMatch(/^AllowTcpForwarding yes$/m);
    expect(fs.readFileSync(target.configPath, 'utf8')).toMatch(/^AllowTcpForwarding no$/m);

    const proxy = `ssh ${[...BASE_OPTS, ...NO_HOSTKEY_CHECK, '-i', jump.privateKeyPath, '-p', String(jump.port)].join(' ')} -W %h:%p root@127.0.0.1`;
    const via = ssh(target, ['echo', 'via-jump'], [...NO_HOSTKEY_CHECK, '-o', `ProxyCommand=${proxy}`]);
    expect(via.status, String(via.stderr)).toBe(0);
    expect(via.stdout).toBe('via-jump\n');
    await waitForLog(jump, /Accepted publickey for root/);

    // The target itself does not forward.
    const proxyThroughTarget = `ssh ${[...BASE_OPTS, ...NO_HOSTKEY_CHECK, '-i', target.privateKeyPath, '-p', String(target.port)].join(' ')} -W %h:%p root@127.0.0.1`;
    const denied = ssh(jump, ['true'], [...NO_HOSTKEY_CHECK, '-o', `ProxyCommand=${proxyThroughTarget}`]);
    expect(denied.status).toBe(255);
    expect(String(denied.stderr)).toMatch(/stdio forwarding failed/);
    await waitForLog(target, /refused local port forward/);

    await jump.stop();
    await target.stop();
  });

  it('serves the ssh2 library, with host key verification, directly and through the jump host', async () => {
    const target = await startSshd();
    const jump = await startJumpHost({ clientKey: target.clientKey });
    const privateKey = fs.readFileSync(target.privateKeyPath);
    const seen: string[] = [];
    const verifier = (expected: string) => (key: Buffer) => {
      const fp = fingerprintOfBlob(key);
      seen.push(fp);
      return fp === expected;
    };

    const direct = await ssh2Connect({
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey,
      hostVerifier: verifier(target.hostKeyFingerprint),
    });
    expect(await ssh2Exec(direct, 'echo direct; exit 3')).toEqual({ out: 'direct\n', code: 3 });
    direct.end();

    // Wrong expected fingerprint: the handshake is refused.
    await expect(
      ssh2Connect({
        host: target.host,
        port: target.port,
        username: target.user,
        privateKey,
        hostVerifier: verifier(jump.hostKeyFingerprint),
      }),
    ).rejects.toThrow();

    const bastion = await ssh2Connect({
      host: jump.host,
      port: jump.port,
      username: jump.user,
      privateKey,
      hostVerifier: verifier(jump.hostKeyFingerprint),
    });
    const sock = await new Promise<NodeJS.ReadableStream & NodeJS.WritableStream>((resolve, reject) =>
      bastion.forwardOut('127.0.0.1', 0, '127.0.0.1', target.port, (err, stream) => (err ? reject(err) : resolve(stream))),
    );
    const hopped = await ssh2Connect({
      sock: sock as unknown as ssh2.ConnectConfig['sock'],
      username: target.user,
      privateKey,
      hostVerifier: verifier(target.hostKeyFingerprint),
    });
    expect((await ssh2Exec(hopped, 'echo hopped')).out).toBe('hopped\n');
    hopped.end();
    bastion.end();
    expect(seen).toContain(target.hostKeyFingerprint);

    await stopAllSshd();
    expect(fs.existsSync(target.dir)).toBe(false);
    expect(fs.existsSync(jump.dir)).toBe(false);
    // Nothing of ours is left in the temp dir (client keys made without a dir included).
    expect(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(`pft-test-ssh`) && n.includes(`-${process.pid}-`))).toEqual([]);
  });
});
