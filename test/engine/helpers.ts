/**
 * Shared by the engine tests: a config for the `local` node or a real sshd on loopback, and the
 * checks that a triage left nothing behind on the node.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type Config, type NodeConfig } from '../../src/config/schema.js';
import type { TriageResult } from '../../src/model/triage.js';
import type { ProcessRank } from '../../src/model/verdict.js';
import { LocalConnector } from '../../src/remote/local.js';
import type { Connector } from '../../src/remote/session.js';
import type { Sshd } from '../support/sshd.js';

export function localConfig(overrides: Partial<Config['playbook']> = {}): { config: Config; node: NodeConfig } {
  const config = configSchema.parse({ playbook: { sampleSeconds: 2, captureSeconds: 2, ...overrides }, nodes: [{ name: 'local', local: true }] });
  return { config, node: config.nodes[0]! };
}

export function sshConfig(
  sshd: Pick<Sshd, 'host' | 'port' | 'user' | 'privateKeyPath' | 'hostKeyFingerprint'>,
  overrides: {
    hostKey?: string;
    connectTimeoutSeconds?: number;
    playbook?: Partial<Config['playbook']>;
    /** Log in as this user with this key instead of the sshd's root login. */
    user?: string;
    privateKeyPath?: string;
    /** `ssh.sudo: true` and `ssh.playbook: installed`: the setup of scripts/setup-node.sh (test/support/triage-user.ts). */
    installed?: boolean;
  } = {},
): { config: Config; node: NodeConfig } {
  const config = configSchema.parse({
    playbook: { sampleSeconds: 2, captureSeconds: 2, ...overrides.playbook },
    nodes: [
      {
        name: 'node-1',
        ssh: {
          host: sshd.host,
          port: sshd.port,
          user: overrides.user ?? sshd.user,
          privateKeyPath: overrides.privateKeyPath ?? sshd.privateKeyPath,
          hostKey: overrides.hostKey ?? sshd.hostKeyFingerprint,
          connectTimeoutSeconds: overrides.connectTimeoutSeconds ?? 5,
          ...(overrides.installed ? { sudo: true, playbook: 'installed' } : {}),
        },
      },
    ],
  });
  return { config, node: config.nodes[0]! };
}

function pgrep(args: string[]): string[] {
  try {
    return execFileSync('pgrep', args, { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** Processes and temp dirs the playbook could leave on this machine (the node, in these tests). */
export function playbookLeftovers(): { perf: string[]; bpftrace: string[]; steps: string[]; tempDirs: string[] } {
  const dirs = new Set([tmpdir(), '/tmp']);
  const tempDirs = [...dirs].flatMap((d) => readdirSync(d).filter((f) => f.startsWith('pft.')).map((f) => `${d}/${f}`));
  return {
    perf: pgrep(['-a', '-x', 'perf']),
    bpftrace: pgrep(['-a', '-x', 'bpftrace']),
    steps: pgrep(['-a', '-f', 'sh -s -- (probe|rank|capture) ']),
    tempDirs,
  };
}

/** The node-side timeout and the playbook's traps need a moment after a step returns. */
export async function expectNodeClean(timeoutMs = 8000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let left = playbookLeftovers();
  while (Date.now() < until) {
    left = playbookLeftovers();
    if (left.perf.length + left.bpftrace.length + left.steps.length + left.tempDirs.length === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the triage left things on the node: ${JSON.stringify(left)}`);
}

// ---------------------------------------------------------------------------------------------------------
// Running the real playbook locally with a restricted toolset or as another user.

/**
 * A `local` connector whose steps run with the given environment (PATH: which tools the "node" has) and,
 * optionally, as another user: the same command and script as LocalConnector, spawned with `env`, `uid`
 * and `gid`. The node-side `timeout` bounds every step as in production.
 */
export function restrictedLocalConnector(opts: { env: NodeJS.ProcessEnv; uid?: number; gid?: number }): Connector {
  return new LocalConnector({ spawn: opts });
}

/**
 * Stand-in for bpftrace (tests only): real bpftrace cannot attach on this machine (RLIMIT_MEMLOCK cannot be raised), so tier
 * selection and the bpftrace path are tested with this. It behaves like the playbook's bpftrace program: a
 * banner, then `PID TID NSECS ADDR 1` per "major fault" for the first pid of the program's filter (system-wide: the
 * first process mapping $PFT_STANDIN_MAP), at page
 * addresses inside that pid's mapping whose path contains $PFT_STANDIN_MAP, then it exits when the
 * program's `interval:s:N` would have.
 */
export const BPFTRACE_STANDIN = `#!/bin/sh
prog=$2
pid=$(printf '%s\\n' "$prog" | sed -n 's/^kprobe:handle_mm_fault \\/pid == \\([0-9]*\\).*/\\1/p' | head -n 1)
secs=$(printf '%s\\n' "$prog" | sed -n 's/^interval:s:\\([0-9]*\\) .*/\\1/p' | head -n 1)
# System-wide (no pid filter): the first process that maps $PFT_STANDIN_MAP.
[ -n "$pid" ] || pid=$(grep -l -F -- "\${PFT_STANDIN_MAP:-/}" /proc/[0-9]*/maps 2>/dev/null | head -n 1 | cut -d / -f 3)
echo 'Attaching 4 probes...'
range=$(grep -F -- "\${PFT_STANDIN_MAP:-/}" "/proc/$pid/maps" 2>/dev/null | head -n 1 | cut -d ' ' -f 1)
start=$((0x\${range%-*}))
i=0
while [ -n "$range" ] && [ "$i" -lt 200 ]; do
  printf '%d %d %d %x 1\\n' "$pid" "$pid" "$((1000000000 + i))" "$((start + i * 4096 + 8))"
  i=$((i + 1))
done
sleep "\${secs:-1}"
`;

/**
 * A directory to use as the whole PATH of a playbook run: a symlink to every command in /usr/bin except perf
 * and bpftrace, plus perf when `perf` is set and the bpftrace stand-in when `bpftrace` is set. World-readable,
 * so another user can run from it. Returns the directory; remove it when done.
 */
export function toolDir(opts: { perf: boolean; bpftrace: boolean }): string {
  const dir = mkdtempSync(join(tmpdir(), 'pft-test-tools-'));
  chmodSync(dir, 0o755);
  for (const name of readdirSync('/usr/bin')) {
    if (name === 'perf' || name === 'bpftrace' || name.startsWith('perf_') || name.startsWith('perf-')) continue;
    symlinkSync(join('/usr/bin', name), join(dir, name));
  }
  if (opts.perf) symlinkSync('/usr/bin/perf', join(dir, 'perf'));
  if (opts.bpftrace) writeFileSync(join(dir, 'bpftrace'), BPFTRACE_STANDIN, { mode: 0o755 });
  return dir;
}

/** kernel.perf_event_paranoid; the "perf refused" tests need the distribution default, 2. */
export function perfEventParanoid(): number {
  return Number(readFileSync('/proc/sys/kernel/perf_event_paranoid', 'utf8').trim());
}

export const NOBODY = { uid: 65534, gid: 65534 } as const;

// ---------------------------------------------------------------------------------------------------------
// Measurements polluted by other engineers' generators on this shared kernel.

const FOREIGN_COMM = /^(?:pft-|preader$)/;

/**
 * Processes that faulted during the triage and are not ours: a generator of another test run (comm pft-…
 * or preader), or anything else taking a noticeable share of the node's major faults.
 */
export function foreignFaulters(r: TriageResult, ours: readonly number[]): ProcessRank[] {
  const mine = new Set(ours);
  const node = r.analysis?.system.pgmajfaultPerSec ?? 0;
  return (r.analysis?.processes ?? []).filter(
    (p) => !mine.has(p.pid) && p.majfltPerSec > 0 && (FOREIGN_COMM.test(p.comm) || p.majfltPerSec > Math.max(20, node * 0.05)),
  );
}

function foreignGeneratorsRunning(ours: readonly number[]): string[] {
  const mine = new Set(ours);
  const found: string[] = [];
  for (const ent of readdirSync('/proc')) {
    if (!/^\d+$/.test(ent) || mine.has(Number(ent))) continue;
    try {
      const stat = readFileSync(`/proc/${ent}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (FOREIGN_COMM.test(comm) && state !== 'Z') found.push(`${comm} pid ${ent}`);
    } catch {
      // gone
    }
  }
  return found;
}

/** Waits (up to `timeoutMs`) until no fault generator other than `ours` runs; returns what still runs. */
export async function waitForForeignGenerators(ours: readonly number[], timeoutMs = 90_000): Promise<string[]> {
  const until = Date.now() + timeoutMs;
  let left = foreignGeneratorsRunning(ours);
  while (left.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 500));
    left = foreignGeneratorsRunning(ours);
  }
  return left;
}

/**
 * Runs a triage until its measurement is not polluted by another process's major faults (see
 * foreignFaulters, plus node-wide faults that no ranked process took), waiting for foreign generators to go away in between. A polluted measurement is run
 * again, never accepted with weaker assertions; after `attempts` it fails naming the polluters.
 */
export async function triageUnpolluted(run: () => Promise<TriageResult>, ours: readonly number[], attempts = 4): Promise<TriageResult> {
  const seen: string[] = [];
  for (let i = 0; i < attempts; i++) {
    await waitForForeignGenerators(ours);
    const r = await run();
    const foreign = foreignFaulters(r, ours).map((p) => `${p.comm} pid ${p.pid} ${Math.round(p.majfltPerSec)}/s`);
    // Faults no ranked process took: processes too short-lived to be ranked (another run's tests starting up).
    const node = r.analysis?.system.pgmajfaultPerSec ?? 0;
    const unexplained = node - (r.analysis?.processes ?? []).reduce((n, p) => n + p.majfltPerSec, 0);
    if (unexplained > Math.max(50, node * 0.2)) foreign.push(`${Math.round(unexplained)}/s of the node's ${Math.round(node)}/s from unranked processes`);
    if (foreign.length === 0) return r;
    const who = foreign.join(', ');
    seen.push(who);
    console.warn(`[engine] measurement polluted by ${who}: running the triage again`);
  }
  throw new Error(`every triage was polluted by other processes' major faults: ${seen.join(' | ')}`);
}

// ---------------------------------------------------------------------------------------------------------
// "Nothing left on the node" when other test runs use the same machine at the same time.

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/** Whether `pid` descends from one of `roots` (this test process, our sshd). */
function descendsFrom(pid: number, roots: ReadonlySet<number>): boolean {
  for (let p: number | null = pid, hops = 0; p !== null && p > 1 && hops < 64; p = parentOf(p), hops++) {
    if (roots.has(p)) return true;
  }
  return false;
}

/**
 * Like expectNodeClean, but only for what this test run started: perf, bpftrace and playbook steps that
 * descend from `roots` (this process for local runs, our sshd for SSH runs), plus any playbook tracer orphaned
 * from its step. Another run's live perf or step on this machine is not ours to judge. Temp dirs carry no owner, so they are judged only while no other run's
 * playbook step is alive: a pft.* dir still there then, made since `since`, is a leftover.
 */
export async function expectOwnNodeClean(opts: { roots: readonly number[]; since: number; timeoutMs?: number }): Promise<void> {
  const roots = new Set(opts.roots);
  const until = Date.now() + (opts.timeoutMs ?? 8000);
  const pidOf = (line: string): number => Number(line.split(' ')[0]);
  let last: unknown;
  for (;;) {
    const left = playbookLeftovers();
    // A playbook tracer left without its step (reparented to init) is a leftover whoever started it.
    const orphan = (l: string): boolean => parentOf(pidOf(l)) === 1 && l.includes('/pft.');
    const own = [...left.perf, ...left.bpftrace, ...left.steps].filter((l) => descendsFrom(pidOf(l), roots) || orphan(l));
    const foreignSteps = left.steps.filter((l) => !descendsFrom(pidOf(l), roots));
    const dirs =
      foreignSteps.length > 0
        ? []
        : left.tempDirs.filter((d) => {
            try {
              return statSync(d).ctimeMs >= opts.since - 1000;
            } catch {
              return false; // removed meanwhile
            }
          });
    if (own.length === 0 && dirs.length === 0) return;
    last = { processes: own, tempDirs: dirs };
    if (Date.now() > until) throw new Error(`the triage left things on the node: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
