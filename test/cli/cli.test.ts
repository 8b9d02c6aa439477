/**
 * The command line as a user runs it: a real process, a config file, stdout/stderr and exit codes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/paths.js';
import { startSshd, stopAllSshd, type Sshd } from '../support/sshd.js';
import { expectNodeClean } from '../engine/helpers.js';

const CLI = join(packageRoot, 'src', 'cli', 'main.ts');
let dir: string;
let sshd: Sshd;

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: packageRoot, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function writeConfig(name: string, yaml: string): string {
  const p = join(dir, name);
  writeFileSync(p, yaml);
  return p;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pft-cli-'));
  sshd = await startSshd();
});
afterAll(async () => {
  await stopAllSshd();
  rmSync(dir, { recursive: true, force: true });
});

describe('pagefault-triage run', () => {
  it('prints the report on stdout, plain progress lines on stderr, and exits 0', async () => {
    const cfg = writeConfig('local.yaml', 'nodes:\n  - name: local\n    local: true\n');
    const r = await cli(['run', 'local', '--config', cfg, '--sample', '1', '--capture', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^# local: /);
    expect(r.stdout).toContain('## Method');
    expect(r.stderr).toContain('local ▸ ranking processes (1 s)\n');
    expect(r.stderr).toContain('local ▸ capturing fault addresses (1 s)\n');
    expect(r.stderr).not.toContain('\r'); // not a terminal: no in-place updates
    await expectNodeClean();
  });

  it('prints the triage as JSON with --json', async () => {
    const cfg = writeConfig('local.yaml', 'nodes:\n  - name: local\n    local: true\n');
    const r = await cli(['run', 'local', '--config', cfg, '--sample', '1', '--capture', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const t = JSON.parse(r.stdout) as { node: string; verdict: { kind: string }; window: unknown; timings: { step: string }[] };
    expect(t.node).toBe('local');
    expect(t.window).toEqual({ sampleSeconds: 1, captureSeconds: 1 });
    expect(t.timings.map((x) => x.step)).toEqual(['connect', 'rank', 'capture', 'resolve']);
    expect(['quiet', 'mmap-read', 'swap-thrash', 'code-reread', 'mixed', 'inconclusive']).toContain(t.verdict.kind);
  });

  it('exits 1 with a one-line reason when the triage cannot run', async () => {
    const cfg = writeConfig(
      'bad-key.yaml',
      `nodes:
  - name: node-1
    ssh:
      host: 127.0.0.1
      port: ${sshd.port}
      user: root
      privateKeyPath: ${sshd.privateKeyPath}
      hostKey: "SHA256:${'B'.repeat(43)}"
`,
    );
    const r = await cli(['run', 'node-1', '--config', cfg, '--sample', '1', '--capture', '1']);
    expect(r.code).toBe(1);
    const last = r.stderr.trim().split('\n').at(-1)!;
    expect(last).toMatch(/^pagefault-triage: node-1: .*host key.*\(host_key_mismatch\)$/);
    expect(r.stdout).toContain('The triage could not run');
  });

  it('names an unknown node and the configured ones', async () => {
    const cfg = writeConfig('local.yaml', 'nodes:\n  - name: local\n    local: true\n');
    const r = await cli(['run', 'nope', '--config', cfg]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('pagefault-triage: unknown node "nope" (configured: local)');
  });

  it('refuses a bad config with the exact key and reason', async () => {
    const cfg = writeConfig('invalid.yaml', 'playbook:\n  captureSeconds: 999\nnodes:\n  - name: local\n    local: true\n');
    const r = await cli(['run', 'local', '--config', cfg]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/invalid\.yaml: playbook\.captureSeconds: /);
  });

  it('refuses bad arguments with usage', async () => {
    const r = await cli(['run', 'local', '--sample', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--sample takes whole seconds from 1 to 60');
    expect(r.stderr).toContain('Usage:');
  });
});

describe('pagefault-triage doctor', () => {
  it('prints a table: a healthy local and ssh node, and a host key mismatch', async () => {
    const node = (name: string, hostKey: string) => `  - name: ${name}
    ssh:
      host: 127.0.0.1
      port: ${sshd.port}
      user: root
      privateKeyPath: ${sshd.privateKeyPath}
      hostKey: "${hostKey}"
`;
    const cfg = writeConfig(
      'doctor.yaml',
      `nodes:\n  - name: local\n    local: true\n${node('good', sshd.hostKeyFingerprint)}${node('evil', `SHA256:${'C'.repeat(43)}`)}`,
    );
    const r = await cli(['doctor', '--config', cfg]);
    expect(r.code).toBe(1); // one node cannot be triaged
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^node\s+address\s+reachable\s+host key\s+sudo\s+perf\s+bpftrace\s+tracepoint$/);
    expect(lines.find((l) => l.startsWith('local '))).toMatch(/local\s+yes \(\d+ ms\)\s+n\/a\s+n\/a\s+ok\s+missing\s+ok/);
    expect(lines.find((l) => l.startsWith('good '))).toMatch(/yes \(\d+ ms\)\s+matches\s+n\/a\s+ok/);
    expect(lines.find((l) => l.startsWith('evil '))).toMatch(/MISMATCH/);
    expect(r.stdout).toMatch(/evil: host_key_mismatch: /);
  });

  it('checks one node when named, and exits 0 when it is healthy', async () => {
    const cfg = writeConfig('one.yaml', 'nodes:\n  - name: local\n    local: true\n');
    const r = await cli(['doctor', '--config', cfg, 'local']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toHaveLength(3); // header, one row, trailing newline
  });
});
