/**
 * config/pagefault-triage.service, checked by systemd's own tools: `systemd-analyze verify` (the file as
 * systemd parses it) and `systemd-analyze security --offline` (how exposed the sandbox leaves the bot). The
 * unit must not set MemoryDenyWriteExecute, and the kernel rule behind it is run against this Node.js to show why.
 */
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';

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
