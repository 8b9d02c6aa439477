/**
 * Least privilege on the node (SECURITY.md), with a real sshd, real sudo and a non-root user set up by
 * scripts/setup-node.sh exactly as an operator would: the bot logs in as that user, runs the root-owned
 * installed playbook through the one sudoers rule, and the user can do nothing else as root. Also: sudo
 * refused, and perf refused by perf_event_paranoid for an unprivileged login (a lower tier, with the reason).
 * Needs root; the user, its home, the sudoers file and the install dir are removed afterwards.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type Config } from '../../src/config/schema.js';
import { triageNode } from '../../src/pipeline.js';
import { INSTALL_DIR, INSTALLED_PLAYBOOK, INSTALLED_STEP } from '../../src/remote/command.js';
import { sudoersRule } from '../support/sudoers.js';
import { packageRoot } from '../../src/paths.js';
import { startSshd, stopAllSshd, type ClientKey, type Sshd } from '../support/sshd.js';
import { installTriageUser, sudoersFile, type TriageUser } from '../support/triage-user.js';
import { watchNode } from './node-watch.js';

const USER = 'pft-test-triage';
const SUDOERS = sudoersFile(USER);
const NONCE = '0123456789abcdef0123456789abcdef';

let sshd: Sshd;
let triage: TriageUser;
let keyDir: string;
let key: ClientKey;
let home: string;

/** Runs a command as the triage user (no login shell, no tty), as sudo would see it from an SSH session. */
function asUser(...argv: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('/usr/sbin/runuser', ['-u', USER, '--', ...argv], { encoding: 'utf8', timeout: 30_000, env: { PATH: '/usr/bin:/bin', TMPDIR: '/nonexistent-user-tmp', PFT_EVIL: '1' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function config(over: { sudo: boolean; playbook?: 'stdin' | 'installed'; user?: string }): { config: Config; node: Config['nodes'][number] } {
  const c = configSchema.parse({
    playbook: { sampleSeconds: 1, captureSeconds: 1, deadlineSlackSeconds: 20 },
    nodes: [
      {
        name: 'node-1',
        ssh: {
          host: sshd.host,
          port: sshd.port,
          user: over.user ?? USER,
          privateKeyPath: key.privateKeyPath,
          hostKey: sshd.hostKeyFingerprint,
          sudo: over.sudo,
          ...(over.playbook ? { playbook: over.playbook } : {}),
        },
      },
    ],
  });
  return { config: c, node: c.nodes[0]! };
}

beforeAll(async () => {
  triage = installTriageUser(USER);
  ({ key, home } = triage);
  keyDir = dirname(home);
  sshd = await startSshd(triage.sshdOptions);
}, 60_000);

afterAll(async () => {
  await stopAllSshd();
  triage?.remove();
}, 60_000);

describe('scripts/setup-node.sh', () => {
  it('installs the playbook root-owned, and one sudoers rule: the installed entry point, nothing else', () => {
    for (const [path, mode] of [
      [INSTALL_DIR, 0o755],
      [INSTALLED_PLAYBOOK, 0o644],
      [INSTALLED_STEP, 0o755],
      [SUDOERS, 0o440],
    ] as const) {
      const st = statSync(path);
      expect({ path, uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({ path, uid: 0, gid: 0, mode });
    }
    expect(readFileSync(INSTALLED_PLAYBOOK, 'utf8')).toBe(readFileSync(join(packageRoot, 'src/playbook/playbook.sh'), 'utf8'));
    const rules = readFileSync(SUDOERS, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(rules).toEqual([`Defaults:${USER} !requiretty`, sudoersRule(USER)]);
    expect(sudoersRule(USER)).toBe(`${USER} ALL=(root) NOPASSWD: /usr/local/lib/pagefault-triage/pft-step`);
    // sudo's own view of what the user may run.
    const listed = execFileSync('sudo', ['-l', '-U', USER], { encoding: 'utf8' });
    expect(listed).toMatch(/\(root\) NOPASSWD: \/usr\/local\/lib\/pagefault-triage\/pft-step\n?$/);
    // The key is restricted and bound to the bot's address.
    expect(readFileSync(join(home, '.ssh/authorized_keys'), 'utf8')).toBe(`restrict,from="127.0.0.1" ${key.publicKey}\n`);
    expect(statSync(join(home, '.ssh/authorized_keys')).uid).not.toBe(0);
  });

  it('the SECURITY.md rule is the one the script installs', () => {
    const doc = readFileSync(join(packageRoot, 'SECURITY.md'), 'utf8');
    expect(doc).toContain(sudoersRule('triage'));
  });
});

describe('the triage user', () => {
  it('runs the whole triage as root through the installed playbook', async () => {
    const { config: c, node } = config({ sudo: true, playbook: 'installed' });
    const watch = watchNode(sshd.pid);
    const r = await triageNode(c, node, { kind: 'cli' });
    expect(r.verdict.kind, JSON.stringify(r.verdict)).not.toBe('failed');
    expect(r.nodeInfo?.uid).toBe(0); // the playbook ran as root
    expect(r.analysis?.capture.tier).toBe('perf'); // and so perf could record system-wide
    await watch.expectClean();
    // The steps ran as /bin/sh on the installed file, never `sh -s` with a script from the bot.
    const seen = watch.seen().commands;
    expect(seen.some((cmd) => cmd.includes(`/bin/sh ${INSTALLED_PLAYBOOK} rank `))).toBe(true);
    expect(seen.some((cmd) => / sh -s /.test(cmd))).toBe(false);
  });

  it('an aborted triage stops the root playbook and its perf at once (sudo passes the signal on)', async () => {
    const { config: c, node } = config({ sudo: true, playbook: 'installed' });
    const watch = watchNode(sshd.pid);
    const ac = new AbortController();
    const t0 = Date.now();
    const r = await triageNode(c, node, { kind: 'cli' }, {
      signal: ac.signal,
      captureSeconds: 20,
      onProgress: (p) => {
        if (p.step === 'capture') setTimeout(() => ac.abort(), 1500);
      },
    });
    expect(r.verdict.failure?.code).toBe('cancelled');
    // Far sooner than the 20 s window or the node-side timeout: the signal reached the step through sudo.
    await watch.expectClean(8000);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(watch.seen().commands.some((cmd) => /perf record/.test(cmd))).toBe(true);
  });

  it('cannot run the stdin form through sudo: that would need `timeout`, a root shell, in sudoers', async () => {
    const { config: c, node } = config({ sudo: true, playbook: 'stdin' });
    const r = await triageNode(c, node, { kind: 'cli' });
    expect(r.verdict.failure?.code).toBe('sudo_refused');
    expect(r.verdict.failure?.message).toMatch(/sudo -n was refused for user pft-test-triage on 127\.0\.0\.1: sudo: a password is required/);
  });

  it('gets nothing else from sudo: no shell, no timeout, no other arguments, no environment', () => {
    const pwned = join(keyDir, 'pwned');
    const refused = [
      ['sudo', '-n', '/bin/sh', '-c', `touch ${pwned}`],
      ['sudo', '-n', '/usr/bin/timeout', '5', '/bin/sh', '-c', `touch ${pwned}`],
      ['sudo', '-n', '-E', INSTALLED_STEP, '5', 'probe', NONCE],
      ['sudo', '-n', 'PFT_DIR=/tmp', INSTALLED_STEP, '5', 'probe', NONCE],
      ['sudo', '-n', '-u', 'nobody', INSTALLED_STEP, '5', 'probe', NONCE],
      ['sudo', '-n', '-s'],
      ['sudo', '-n', '-i'],
      ['sudo', '-n', 'sudoedit', INSTALLED_PLAYBOOK],
    ];
    for (const argv of refused) {
      const r = asUser(...argv);
      expect({ argv, status: r.status, out: r.stdout }).toEqual({ argv, status: 1, out: '' });
      expect(r.stderr).toMatch(/^sudo: /m);
    }
    // The entry point itself lets nothing through but a step, a nonce and small tokens.
    const badArgs = [
      ['5', '/bin/sh'],
      ['5', 'probe', NONCE, '$(touch /tmp/x)'],
      ['5', 'rank', NONCE, '1;id'],
      ['5', 'rank', NONCE, '1', '-c'],
      ['5', 'rank', `${NONCE}'`],
      ['5', 'capture', NONCE, '1', 'auto', '../../../bin/sh'],
      ['0', 'probe', NONCE],
      ['99999999', 'probe', NONCE],
      ['5 ', 'probe', NONCE],
      ['-k', 'probe', NONCE],
      ['5', 'rank', NONCE, 'a'.repeat(17)],
    ];
    for (const args of badArgs) {
      const r = asUser('sudo', '-n', INSTALLED_STEP, ...args);
      expect({ args, status: r.status, stdout: r.stdout }).toEqual({ args, status: 2, stdout: '' });
      expect(r.stderr).toMatch(/^pft-step: (bad|usage)/);
    }
    expect(existsSync(pwned)).toBe(false);
    // What it may do: run a step as root, with the caller's environment gone.
    const ok = asUser('sudo', '-n', INSTALLED_STEP, '20', 'probe', NONCE);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain(`@@pft:${NONCE} node\n`);
    expect(ok.stdout).toMatch(/^uid 0$/m);
    expect(ok.stderr).toMatch(/^pft-step: playbook sha256=[0-9a-f]{64}$/m);
    // The user cannot change what root runs.
    for (const f of [INSTALLED_PLAYBOOK, INSTALLED_STEP, INSTALL_DIR]) expect(asUser('test', '-w', f).status).toBe(1);
  });

  it('for contrast: a sudoers rule with wildcards for the stdin form is a root shell', () => {
    // sudoers wildcards in arguments match spaces too, so "timeout -k 2 * sh -s -- *" lets anything run as root.
    const naive = `/etc/sudoers.d/pft-test-naive`;
    writeFileSync(naive, `${USER} ALL=(root) NOPASSWD: /usr/bin/timeout -k 2 * sh -s -- *\n`, { mode: 0o440 });
    try {
      execFileSync('visudo', ['-c', '-q', '-f', naive]);
      const r = asUser('sudo', '-n', '/usr/bin/timeout', '-k', '2', '5', '/bin/sh', '-c', 'id -u', 'sh', '-s', '--', 'x');
      expect(r.stdout.trim()).toBe('0');
    } finally {
      rmSync(naive, { force: true });
    }
  });

  it('refuses an installed playbook that is not the bot\'s own, naming the fix', async () => {
    const original = readFileSync(INSTALLED_PLAYBOOK);
    appendFileSync(INSTALLED_PLAYBOOK, '# changed\n');
    try {
      const { config: c, node } = config({ sudo: true, playbook: 'installed' });
      const r = await triageNode(c, node, { kind: 'cli' });
      expect(r.verdict.failure?.code).toBe('config_invalid');
      expect(r.verdict.failure?.message).toMatch(/^the playbook installed on 127\.0\.0\.1 \(sha256 [0-9a-f]{12}…\) is not this bot's \(sha256 [0-9a-f]{12}…\): run scripts\/setup-node\.sh on the node again$/);
    } finally {
      writeFileSync(INSTALLED_PLAYBOOK, original);
    }
  });
});

describe('sudo refused', () => {
  it('a user without the sudoers rule: failed (sudo_refused), nothing ran as root, node clean', async () => {
    const saved = readFileSync(SUDOERS);
    rmSync(SUDOERS);
    try {
      for (const playbook of ['installed', 'stdin'] as const) {
        const { config: c, node } = config({ sudo: true, playbook });
        const watch = watchNode(sshd.pid);
        const r = await triageNode(c, node, { kind: 'cli' });
        expect(r.verdict.kind).toBe('failed');
        expect(r.verdict.failure).toMatchObject({ code: 'sudo_refused', retryable: false });
        expect(r.verdict.failure?.message).toContain('sudo: a password is required');
        expect(r.timings.map((t) => t.step)).toEqual(['connect', 'rank']);
        await watch.expectClean();
        // The refused `sudo` itself may be seen for a moment (its own command line names the step), and so may
        // the user's shell in the instant before it execs sudo; what must never be seen is the step running past it.
        expect(watch.seen().commands.filter((cmd) => /playbook|sh -s/.test(cmd) && !/^((\S*\/)?sudo |sh -c exec sudo )/.test(cmd))).toEqual([]);
      }
    } finally {
      writeFileSync(SUDOERS, saved, { mode: 0o440 });
    }
  });
});

describe('perf refused by perf_event_paranoid', () => {
  it('an unprivileged login degrades to /proc evidence and says why', async () => {
    const paranoid = Number(readFileSync('/proc/sys/kernel/perf_event_paranoid', 'utf8'));
    expect(paranoid, 'this test needs kernel.perf_event_paranoid >= 2 (the default)').toBeGreaterThanOrEqual(2);
    const { config: c, node } = config({ sudo: false });
    const watch = watchNode(sshd.pid);
    const r = await triageNode(c, node, { kind: 'cli' });
    expect(r.verdict.kind, JSON.stringify(r.verdict)).not.toBe('failed');
    expect(r.nodeInfo?.uid).not.toBe(0);
    // The rank step makes no perf trial (doctor's probe does); the capture's attempts carry the reason.
    const cap = r.analysis!.capture;
    expect(cap.tier).toBe('none');
    const perf = cap.unavailable.find((u) => u.tier === 'perf');
    expect(perf?.reason).toMatch(/perf_event_paranoid/);
    // The verdict carries the reason, so whoever reads it knows why there are no fault addresses.
    expect(r.verdict.notes.join('\n')).toMatch(/perf unavailable: .*perf_event_paranoid/);
    expect(r.verdict.tracer).toBe('none');
    await watch.expectClean();
  });
});
