import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseRank } from '../../../src/playbook/parse.js';
import { splitSections } from '../../../src/playbook/sections.js';
import { playbookScriptPath } from '../../../src/paths.js';
import { newNonce } from '../../../src/playbook/steps.js';

/**
 * The rank step of the real playbook (version 3), run locally under dash and busybox sh as a session runs it
 * (script on stdin). Which snapshots read the whole process table does not depend on what faults.
 */
const SCRIPT = readFileSync(playbookScriptPath, 'utf8');

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'pft-rank-script-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function rank(shell: string[], seconds: number, tmp: string): { stdout: string; nonce: string } {
  const nonce = newNonce();
  const r = spawnSync(shell[0]!, [...shell.slice(1), '-s', '--', 'rank', nonce, String(seconds)], {
    input: SCRIPT,
    env: { ...process.env, TMPDIR: tmp },
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  expect(r.status, r.stderr).toBe(0);
  return { stdout: r.stdout, nonce };
}

describe.each([['dash'], ['busybox', 'sh']])('rank step under %s', (...shell) => {
  it('reads the whole table at the first, second and last snapshot only, and leaves nothing behind', () => {
    const { stdout, nonce } = rank(shell, 3, root);
    const snaps = splitSections(stdout, nonce).filter((s) => s.name === 'snap');
    expect(snaps.map((s) => s.attrs.table ?? '')).toEqual(['1', '1', '', '1']);
    const facts = parseRank(stdout, nonce);
    expect(facts.snapshots).toHaveLength(4);
    for (const i of [0, 1, 3]) expect(facts.snapshots[i]!.procs.length).toBeGreaterThan(10);
    // This test's own shell is alive the whole window: every whole snapshot has it.
    for (const i of [0, 1, 3]) expect(facts.snapshots[i]!.procs.some((p) => p.pid === process.pid)).toBe(true);
    expect(Object.keys(facts.snapshots[0]!.readBytes).length).toBeGreaterThan(10);
    expect(readdirSync(root)).toEqual([]);
  });

  it('reads every snapshot whole when the temporary directory is not a plain path (its name goes into sed)', () => {
    const odd = join(root, 'a b;c');
    mkdirSync(odd);
    const { stdout, nonce } = rank(shell, 2, odd);
    const snaps = splitSections(stdout, nonce).filter((s) => s.name === 'snap');
    expect(snaps.map((s) => s.attrs.table)).toEqual(['1', '1', '1']);
    expect(parseRank(stdout, nonce).snapshots.every((s) => s.procs.length > 10)).toBe(true);
    expect(readdirSync(odd)).toEqual([]);
  });
});
