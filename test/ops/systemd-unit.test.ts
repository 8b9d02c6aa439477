/**
 * config/pagefault-triage.service, checked by systemd's own tools: `systemd-analyze verify` (the file as
 * systemd parses it) and `systemd-analyze security --offline` (how exposed the sandbox leaves the bot). The
 * unit must not set MemoryDenyWriteExecute, and the kernel rule behind it is run against this Node.js to show why.
 * A serving bot is traced with strace to show its SystemCallFilter lets through every call the bot makes.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { freePort } from '../support/alertmanager.js';
import { waitFor } from '../support/service.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const UNIT_FILE = join(ROOT, 'config', 'pagefault-triage.service');
const UNIT_NAME = 'pagefault-triage.service';
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';

/** The unit's settings per section, in file order; a key set twice keeps both values. Comments are dropped. */
function parseUnit(text: string): Map<string, Array<[string, string]>> {
  const sections = new Map<string, Array<[string, string]>>();
  let current: Array<[string, string]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = [];
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 || !current) throw new Error(`not a unit file line: ${raw}`);
    current.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return sections;
}

function setting(unit: Map<string, Array<[string, string]>>, section: string, key: string): string | undefined {
  const values = (unit.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v);
  return values.at(-1);
}

function requireSystemdAnalyze(): void {
  if (!existsSync(SYSTEMD_ANALYZE)) {
    throw new Error(`${SYSTEMD_ANALYZE} is missing: install Debian's systemd package (apt-get install -y systemd; scripts/install-test-deps.sh does)`);
  }
}

const unitText = readFileSync(UNIT_FILE, 'utf8');
const unit = parseUnit(unitText);

let dir: string;

/**
 * A copy of the unit in a temp dir whose ExecStart binary exists here: verify checks that the binary is
 * executable, and /usr/bin/node need not be where the tests run. The rest of the file is unchanged.
 */
function checkableCopy(edit: (text: string) => string = (t) => t): string {
  const node = setting(unit, 'Service', 'ExecStart')!.split(/\s+/)[0]!;
  const text = edit(unitText.replace(`ExecStart=${node} `, `ExecStart=${process.execPath} `));
  const sub = mkdtempSync(join(dir, 'unit-'));
  const file = join(sub, UNIT_NAME);
  writeFileSync(file, text);
  return file;
}

async function verify(file: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(SYSTEMD_ANALYZE, ['verify', file], { cwd: join(file, '..') });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, output: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

/** Lines of verify's output that are about our unit (other units on the machine may have their own complaints). */
function aboutUnit(output: string): string[] {
  return output.split('\n').filter((l) => l.includes(UNIT_NAME));
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pft-systemd-unit-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('config/pagefault-triage.service', () => {
  it('passes systemd-analyze verify without a warning about the unit', async () => {
    requireSystemdAnalyze();
    const { code, output } = await verify(checkableCopy());
    expect(aboutUnit(output), output).toEqual([]);
    // A non-zero exit must be explained by some other unit's complaint, never by silence.
    if (code !== 0) expect(output.trim(), `systemd-analyze verify exited ${code} without saying why`).not.toBe('');
  });

  it('is checked for real: verify reports a bad key and a missing ExecStart binary in a copy of it', async () => {
    requireSystemdAnalyze();
    const broken = checkableCopy((t) => t.replace('\nUMask=0077\n', '\nUMask=0077\nMemoryDenyWriteExecutable=yes\n').replace(`ExecStart=${process.execPath} `, 'ExecStart=/nonexistent/node '));
    const { code, output } = await verify(broken);
    expect(code).not.toBe(0);
    expect(output).toMatch(/Unknown key '?MemoryDenyWriteExecutable'?/);
    expect(output).toMatch(/\/nonexistent\/node is not executable/);
  });

  it('leaves the bot little exposure by systemd-analyze security (below 2.5 of 10)', async () => {
    requireSystemdAnalyze();
    const file = checkableCopy();
    const res = spawnSync(SYSTEMD_ANALYZE, ['security', '--offline=yes', '--no-pager', file], { encoding: 'utf8' });
    const output = `${res.stdout}${res.stderr}`;
    const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(output);
    expect(m, `systemd-analyze security --offline printed no exposure level (systemd >= 250 needed):\n${output}`).not.toBeNull();
    expect(Number(m![1]), output).toBeLessThan(2.5);
    // Everything the hardening asks for shows as satisfied.
    for (const check of ['NoNewPrivileges=', 'ProtectSystem=', 'ProtectHome=', 'PrivateTmp=', 'PrivateDevices=', 'ProtectKernelTunables=', 'ProtectKernelModules=', 'ProtectKernelLogs=', 'ProtectControlGroups=', 'RestrictNamespaces=~user', 'LockPersonality=', 'SystemCallArchitectures=', 'RestrictAddressFamilies=~AF_PACKET', 'RestrictAddressFamilies=~AF_NETLINK', 'CapabilityBoundingSet=~CAP_SYS_ADMIN']) {
      const line = output.split('\n').find((l) => l.trim().replace(/^[✓✗]\s+/u, '').split(/\s+/)[0] === check);
      expect(line, `no line for ${check} in:\n${output}`).toBeDefined();
      expect(line!.trimStart().startsWith('✓'), line).toBe(true);
    }
  });

  it('does not set MemoryDenyWriteExecute, and says why', () => {
    for (const [section, settings] of unit) {
      expect(settings.map(([k]) => k), section).not.toContain('MemoryDenyWriteExecute');
    }
    expect(unitText).toMatch(/^# No MemoryDenyWriteExecute=yes: V8's JIT/m);
  });

  it('starts the CLI as the package installs it: node, the package bin, serve --config', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    const argv = setting(unit, 'Service', 'ExecStart')!.split(/\s+/);
    expect(argv).toEqual(['/usr/bin/node', `/opt/pagefault-triage/${pkg.bin['pagefault-triage']}`, 'serve', '--config', '/etc/pagefault-triage/config.yaml']);
    // The usage the CLI prints is the one this follows.
    expect(readFileSync(join(ROOT, 'src', 'cli', 'main.ts'), 'utf8')).toContain('pagefault-triage serve  [--config FILE]');
  });

  it('runs as its own user, with its secrets from an optional environment file and its state in StateDirectory', () => {
    expect(setting(unit, 'Service', 'User')).toBe('pagefault-triage');
    expect(setting(unit, 'Service', 'Group')).toBe('pagefault-triage');
    expect(setting(unit, 'Service', 'EnvironmentFile')).toBe('-/etc/pagefault-triage/env');
    const state = setting(unit, 'Service', 'StateDirectory');
    expect(state).toBe('pagefault-triage');
    expect(setting(unit, 'Service', 'StateDirectoryMode')).toBe('0700');
    // storage.path is relative (./data) in the default config: it resolves inside the state directory.
    expect(setting(unit, 'Service', 'WorkingDirectory')).toBe(`/var/lib/${state}`);
    expect(setting(unit, 'Service', 'Restart')).toBe('on-failure');
    expect(setting(unit, 'Service', 'RestrictAddressFamilies')).toBe('AF_INET AF_INET6 AF_UNIX');
    expect(setting(unit, 'Service', 'CapabilityBoundingSet')).toBe('');
  });

  it("is quoted faithfully in README's Running several replicas: every setting shown is in the file", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Running several replicas'));
    const block = /```ini\n([\s\S]*?)```/.exec(section.slice(section.indexOf('### A hardened systemd unit')));
    expect(block, 'no ini block under "A hardened systemd unit"').not.toBeNull();
    const shown = parseUnit(block![1]!).get('Service') ?? [];
    expect(shown.length).toBeGreaterThan(10);
    const inFile = (unit.get('Service') ?? []).map(([k, v]) => `${k}=${v}`);
    for (const [k, v] of shown) expect(inFile, `README shows ${k}=${v}`).toContain(`${k}=${v}`);
  });

  it('gives the SIGTERM drain more time than triage.shutdownGraceSeconds before systemd kills the bot', () => {
    const grace = loadConfig().triage.shutdownGraceSeconds;
    const stop = Number(setting(unit, 'Service', 'TimeoutStopSec'));
    expect(stop).toBeGreaterThan(grace);
  });
});

describe('why not MemoryDenyWriteExecute', () => {
  it('Node.js dies at start under the kernel rule MemoryDenyWriteExecute applies (PR_SET_MDWE), and runs without it', async () => {
    const cc = spawnSync('gcc', ['--version'], { encoding: 'utf8' });
    if (cc.error) throw new Error('gcc is missing: the MDWE helper must be compiled (apt-get install -y gcc libc6-dev; scripts/install-test-deps.sh does)');
    const helper = join(dir, 'mdwe-exec');
    copyFileSync(join(ROOT, 'test', 'support', 'mdwe-exec.c'), join(dir, 'mdwe-exec.c'));
    await run('gcc', ['-O2', '-Wall', '-o', helper, join(dir, 'mdwe-exec.c')]);

    const script = 'console.log("ran")';
    const plain = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(plain.status).toBe(0);
    expect(plain.stdout).toBe('ran\n');

    const denied = spawnSync(helper, [process.execPath, '-e', script], { encoding: 'utf8' });
    if (denied.status === 3) throw new Error(`this kernel has no PR_SET_MDWE (Linux >= 6.3 needed): ${denied.stderr}`);
    expect(denied.stdout).not.toContain('ran');
    expect(denied.status === 0 && denied.signal === null, `node exited ${denied.status} (${denied.signal})`).toBe(false);
    // V8 says why: it could not make its code pages executable.
    expect(denied.stderr).toMatch(/SetPermissions|Check failed/);
  });
});

/** Every system call a filter entry allows: `@group`s expanded by systemd-analyze itself, recursively. */
function expandFilter(entries: string[], seen = new Set<string>()): Set<string> {
  const calls = new Set<string>();
  for (const entry of entries) {
    if (!entry.startsWith('@')) {
      calls.add(entry);
      continue;
    }
    if (seen.has(entry)) continue;
    seen.add(entry);
    const res = spawnSync(SYSTEMD_ANALYZE, ['syscall-filter', '--no-pager', entry], { encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`systemd-analyze syscall-filter ${entry} failed: ${res.stderr}`);
    const members = res.stdout
      .split('\n')
      .slice(1) // the group's own name
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const c of expandFilter(members, seen)) calls.add(c);
  }
  return calls;
}

/** System call names in strace -f output (`PID name(…`, and `PID <... name resumed>` for split lines). */
function tracedCalls(trace: string): Set<string> {
  const calls = new Set<string>();
  for (const line of trace.split('\n')) {
    const m = /^\d+\s+(?:<\.\.\. )?([a-z_0-9]+)(?:\(| resumed>)/.exec(line);
    if (m) calls.add(m[1]!);
  }
  return calls;
}

describe('SystemCallFilter', () => {
  it('allows every system call a serving bot makes: start, webhook, SSH attempt, report, metrics, SIGTERM drain', async () => {
    requireSystemdAnalyze();
    if (spawnSync('strace', ['-V']).error) throw new Error('strace is missing: install it (apt-get install -y strace; scripts/install-test-deps.sh does)');
    const work = mkdtempSync(join(dir, 'serve-'));
    // A real key, so the triage gets as far as connecting: to a closed port, which fails at once.
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work, 'id_ed25519')]);
    const closedPort = await freePort();
    writeFileSync(
      join(work, 'config.yaml'),
      [
        'server: { host: 127.0.0.1, port: 0 }',
        `storage: { path: ${JSON.stringify(join(work, 'data'))} }`,
        'nodes:',
        `  - { name: node-1, ssh: { host: 127.0.0.1, port: ${closedPort}, user: triage, privateKeyPath: ${JSON.stringify(join(work, 'id_ed25519'))}, hostKey: "SHA256:t5eFZAtW47rf7Vl8RL5uAj53dgC+o8xaUkAVN92gjYg", connectTimeoutSeconds: 2 } }`,
        '',
      ].join('\n'),
    );
    const traceFile = join(work, 'trace');
    // -b execve: programs the bot starts (tsx's esbuild) are not traced past their exec; the bot's own threads are.
    const bot = spawn('strace', ['-f', '-qq', '-b', 'execve', '-o', traceFile, process.execPath, '--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'serve', '--config', join(work, 'config.yaml')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    bot.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    bot.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | string>((resolve) => bot.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
    /** The bot's own pid, from its log lines (strace is its parent). */
    const botPid = (): number => {
      const m = /"pid":(\d+)/.exec(out);
      if (!m) throw new Error(`no pid in the bot's log:\n${out}`);
      return Number(m[1]);
    };
    try {
      const url = await waitFor('the bot to serve', () => /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*pagefault-triage serving/.exec(out)?.[1], 60_000, 100).catch((err: Error) => {
        throw new Error(`${err.message}\n${out}`);
      });
      const posted = await fetch(`${url}/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          version: '4',
          status: 'firing',
          receiver: 'pagefault-triage',
          groupKey: '{}:{}',
          alerts: [{ status: 'firing', fingerprint: 'c0ffee0000000001', labels: { alertname: 'NodeMemoryMajorPagesFaults', instance: 'node-1:9100', job: 'node' }, annotations: {}, startsAt: '2026-11-27T03:12:00Z', endsAt: '0001-01-01T00:00:00Z' }],
        }),
      });
      expect(posted.status).toBe(202);
      const { triages } = (await posted.json()) as { triages: Array<{ id: string }> };
      const triage = await waitFor(
        'the triage to fail (nothing that accepts the key listens there)',
        async () => {
          const t = (await (await fetch(`${url}/triages/${triages[0]!.id}`)).json()) as { status: string; verdict?: { summary?: string } };
          return t.status === 'failed' ? t : undefined;
        },
        30_000,
        100,
      );
      expect(triage.verdict?.summary, 'a failed triage says why').toBeTruthy();
      expect((await fetch(`${url}/reports/${triages[0]!.id}`)).status).toBe(200);
      expect((await fetch(`${url}/metrics`)).status).toBe(200);
      expect((await fetch(`${url}/-/ready`)).status).toBe(200);
      // strace blocks fatal signals sent to itself: the bot gets SIGTERM directly, and strace exits with its status.
      process.kill(botPid(), 'SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (bot.exitCode === null && bot.signalCode === null) {
        try {
          process.kill(botPid(), 'SIGKILL');
        } catch {
          // not started, or gone already
        }
        bot.kill('SIGKILL');
      }
      await exited;
    }

    const used = tracedCalls(readFileSync(traceFile, 'utf8'));
    expect(used.size, 'strace recorded no system calls').toBeGreaterThan(20);
    expect(used).toContain('accept4'); // the trace is of the serving bot, not only of its start
    const filter = (unit.get('Service') ?? []).filter(([k]) => k === 'SystemCallFilter').flatMap(([, v]) => v.split(/\s+/));
    expect(filter.length).toBeGreaterThan(0);
    const allowed = expandFilter(filter);
    const outside = [...used].filter((c) => !allowed.has(c)).sort();
    expect(outside, `system calls the bot made that SystemCallFilter=${filter.join(' ')} would refuse`).toEqual([]);
  });
});
