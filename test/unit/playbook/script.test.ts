import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCapture, parseRank } from '../../../src/playbook/parse.js';
import { playbookScriptPath } from '../../../src/paths.js';
import { newNonce } from '../../../src/playbook/steps.js';

/**
 * Runs the real playbook locally, as a session does: the script on stdin of `sh -s -- ARGS`, under dash
 * (Debian's /bin/sh) and busybox sh when installed. TMPDIR points at a fresh directory per test so that the
 * leftover checks see only this test's files, even when other suites run the playbook at the same time.
 */
const SCRIPT = readFileSync(playbookScriptPath, 'utf8');

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

// Every shell is required: a missing one fails the prerequisite test below instead of being skipped.
const shells: { name: string; argv: string[] }[] = [
  { name: 'sh', argv: ['sh'] },
  { name: 'dash', argv: ['dash'] },
  { name: 'busybox sh', argv: ['busybox', 'sh'] },
];

describe('prerequisites', () => {
  it('has dash and busybox (Debian packages dash and busybox; scripts/install-test-deps.sh installs them)', () => {
    expect(have('dash'), 'dash is missing: apt-get install dash').toBe(true);
    expect(have('busybox') && spawnSync('busybox', ['sh', '-c', 'true']).status === 0, 'busybox is missing: apt-get install busybox').toBe(true);
  });
});

interface Run {
  stdout: string;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

function run(argv: string[], env: NodeJS.ProcessEnv, opts: { termAfterMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd as string, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ stdout, stderr, code, signal }));
    child.stdin.on('error', () => {}); // a step that exits early closes its stdin
    child.stdin.end(SCRIPT);
    if (opts.termAfterMs !== undefined) setTimeout(() => child.kill('SIGTERM'), opts.termAfterMs);
  });
}

/** Processes whose command line mentions `text` (perf's `-o DIR/pft.X/perf.data`). */
function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmdline.includes(text)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // gone
    }
  }
  return found;
}

let root: string;
let env: NodeJS.ProcessEnv;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'pft-script-test-'));
  env = { ...process.env, TMPDIR: root };
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function expectNothingLeft(): void {
  expect(readdirSync(root)).toEqual([]);
  expect(processesMentioning(root)).toEqual([]);
}

describe.each(shells)('playbook under $name', ({ argv }) => {
  it('rank NONCE 1 parses', async () => {
    const nonce = newNonce();
    const r = await run(['timeout', '20', ...argv, '-s', '--', 'rank', nonce, '1'], env);
    expect(r.code, r.stderr).toBe(0);
    const facts = parseRank(r.stdout, nonce);
    expect(facts.snapshots).toHaveLength(2);
    expect(facts.snapshots[1]!.t - facts.snapshots[0]!.t).toBeGreaterThan(0.8);
    expect(facts.snapshots[0]!.procs.find((p) => p.pid === 1)).toBeDefined();
    expect(facts.node.pageSize).toBeGreaterThan(0);
    expectNothingLeft();
  }, 30_000);

  it('capture NONCE 1 auto (no pids) parses and leaves nothing behind', async () => {
    const nonce = newNonce();
    const r = await run(['timeout', '30', ...argv, '-s', '--', 'capture', nonce, '1', 'auto'], env);
    expect(r.code, r.stderr).toBe(0);
    const facts = parseCapture(r.stdout, nonce);
    expect(facts.requested).toBe('auto');
    expect(facts.target).toBe('all');
    expect(facts.vmstat).toHaveLength(2);
    expect(facts.attempts.at(-1)?.ok).toBe(true);
    expectNothingLeft();
  }, 40_000);

  it('capture killed with TERM mid-way stops the tracer and removes its directory', async () => {
    const nonce = newNonce();
    const r = await run([...argv, '-s', '--', 'capture', nonce, '5', 'auto'], env, { termAfterMs: 1500 });
    expect(r.code ?? r.signal).not.toBe(0);
    expect(r.stdout).not.toContain(`@@pft:${nonce} end`);
    expectNothingLeft();
  }, 30_000);

  it('capture stopped by the session\'s own `timeout -k 2 N` cleans up too', async () => {
    const nonce = newNonce();
    const r = await run(['timeout', '-k', '2', '2', ...argv, '-s', '--', 'capture', nonce, '10', 'auto'], env);
    expect(r.code).toBe(124);
    expectNothingLeft();
  }, 30_000);

  it('rejects bad arguments with exit 2 and nothing on stdout', async () => {
    for (const args of [['rank', 'zz'], ['rank', '0123456789abcdef', '0'], ['capture', '0123456789abcdef', '1', 'magic'], ['capture', '0123456789abcdef', '1', 'auto', '1;id'], ['nope', '0123456789abcdef']]) {
      const r = await run([...argv, '-s', '--', ...args], env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^playbook: /);
    }
  }, 30_000);
});

describe('playbook with the default temporary directory', () => {
  it('capture removes its /tmp/pft.* directory', async () => {
    const nonce = newNonce();
    const clean = { ...process.env };
    delete clean.TMPDIR;
    const before = new Set(readdirSync('/tmp').filter((d) => d.startsWith('pft.')));
    const r = await run(['timeout', '30', 'sh', '-s', '--', 'capture', nonce, '1', 'auto'], clean);
    expect(r.code, r.stderr).toBe(0);
    parseCapture(r.stdout, nonce);
    // perf names its output file in its closing message: that directory must be gone.
    const dir = /\/tmp\/pft\.[A-Za-z0-9]+/.exec(r.stdout)?.[0];
    if (dir) {
      expect(existsSync(dir)).toBe(false);
      expect(processesMentioning(dir)).toEqual([]);
    }
    // Directories of other playbook runs (other suites) may come and go meanwhile; ours is not among the new ones.
    const added = readdirSync('/tmp').filter((d) => d.startsWith('pft.') && !before.has(d));
    if (dir) expect(added).not.toContain(dir.slice('/tmp/'.length));
  }, 40_000);
});
