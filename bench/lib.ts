/**
 * Shared by the benchmarks: one result row shape, a CPU/wall timer for commands (GNU time), how busy the
 * machine is, and a crowd of idle processes. Each measurement module exports `run(opts)` returning rows.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BenchOptions {
  /** Smaller sizes and fewer runs, for development on a shared machine. */
  quick: boolean;
  log: (line: string) => void;
}

/** One figure, compared with its anchor measured in the same run. */
export interface Row {
  /** e.g. "1a". */
  id: string;
  measurement: string;
  figure: string;
  value: number;
  unit: string;
  anchor?: { name: string; value: number; unit: string };
  /** value / anchor.value (or as explained in `note`). */
  ratio?: number;
  target?: string;
  /** null: no target for this figure, or it could not be judged. */
  met?: boolean | null;
  note?: string;
}

export interface Section {
  rows: Row[];
  /** Extra facts for the JSON (small: breakdowns, settings, what was done). */
  details: Record<string, unknown>;
  notes: string[];
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function round(x: number, digits = 2): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export interface Timed {
  wallS: number;
  userS: number;
  sysS: number;
  /** user + sys of the command and every descendant it waited for (getrusage RUSAGE_CHILDREN via GNU time). */
  cpuS: number;
  exitCode: number | null;
  stdoutBytes: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs argv under `/usr/bin/time`, feeding `input` on stdin. CPU time is the rusage GNU time gets from wait4:
 * the command and all its descendants that were waited for (the playbook waits for every child).
 */
export async function timeCommand(argv: readonly string[], opts: { input?: string; keepStdout?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<Timed> {
  const dir = mkdtempSync(join(tmpdir(), 'pft-bench-time-'));
  const out = join(dir, 'time');
  try {
    const child = spawn('/usr/bin/time', ['-o', out, '-f', '%e %U %S', ...argv], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? { ...process.env, LC_ALL: 'C' },
    });
    let bytes = 0;
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      bytes += d.length;
      if (opts.keepStdout) chunks.push(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 8192) stderr += d.toString();
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve(code));
    });
    const last = readFileSync(out, 'utf8').trim().split('\n').pop() ?? '';
    const [wall, user, sys] = last.split(' ').map(Number) as [number, number, number];
    return { wallS: wall, userS: user, sysS: sys, cpuS: user + sys, exitCode, stdoutBytes: bytes, stdout: Buffer.concat(chunks).toString(), stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Capture benchmarks alternate windows without capture with windows of one mode: `none, A, none, B, …, none`.
 * Each window of `mode` is compared with the mean of the no-capture windows on either side of it, so that a
 * machine whose speed drifts compares like with like: f(window) / mean(f(before), f(after)), one per window.
 */
export function bracketedWindows<W extends { mode: string }>(windows: readonly W[], mode: W['mode'], f: (w: W) => number): number[] {
  return windows.flatMap((w, i) => (w.mode === mode ? [f(w) / ((f(windows[i - 1]!) + f(windows[i + 1]!)) / 2)] : []));
}

/** The slowdowns (%) single windows show, from their bracketed rates: "min to max %". */
export function slowdownSpread(relativeRates: readonly number[], digits: number): string {
  const xs = relativeRates.map((r) => (1 - r) * 100);
  return `${Math.min(...xs).toFixed(digits)} to ${Math.max(...xs).toFixed(digits)} %`;
}

/** USER_HZ: 100 on every Linux that matters (sysconf(_SC_CLK_TCK)). */
export const CLK_TCK = 100;

/** Counters of one process from /proc/PID/stat: majflt (field 12), minflt (10), utime+stime. */
export function procCounters(pid: number): { majflt: number; minflt: number; cpuS: number } {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { minflt: Number(f[7]), majflt: Number(f[9]), cpuS: (Number(f[11]) + Number(f[12])) / CLK_TCK };
}

// ---- how busy is the machine ----------------------------------------------------------------------

/** Every process now: its CPU ticks (utime + stime), comm and parent, from /proc/PID/stat. */
export function processTable(): Map<number, { ticks: number; comm: string; ppid: number }> {
  const out = new Map<number, { ticks: number; comm: string; ppid: number }>();
  for (const ent of readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue;
    try {
      const s = readFileSync(`/proc/${ent}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      out.set(Number(ent), { ticks: Number(f[11]) + Number(f[12]), comm: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')), ppid: Number(f[1]) });
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Whether `pid` is `root` or one of its descendants, in a processTable(). */
export function descendsFrom(pid: number, root: number, table: Map<number, { ppid: number }>): boolean {
  for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
    if (p === root) return true;
    const e = table.get(p);
    if (!e) return false;
    p = e.ppid;
  }
  return false;
}

export interface Busy {
  /** CPU used by processes outside this benchmark, in % of one core (200 = both cores of a 2-core machine). */
  otherCpuPercent: number;
  /** The busiest of those, by name. */
  top: string[];
  loadavg1: number;
}

/** Samples for `ms` how much CPU everything except this benchmark uses. */
export async function machineBusy(ms = 1000): Promise<Busy> {
  const a = processTable();
  const t0 = performance.now();
  await sleep(ms);
  const b = processTable();
  const dt = (performance.now() - t0) / 1000;
  const per = new Map<string, number>();
  let other = 0;
  for (const [pid, e] of b) {
    if (descendsFrom(pid, process.pid, b)) continue;
    const d = e.ticks - (a.get(pid)?.ticks ?? e.ticks);
    if (d <= 0) continue;
    other += d;
    per.set(e.comm, (per.get(e.comm) ?? 0) + d);
  }
  const pct = (t: number): number => round(((t / CLK_TCK) / dt) * 100, 0);
  const top = [...per.entries()].sort((x, y) => y[1] - x[1]).slice(0, 3).map(([c, t]) => `${c} ${pct(t)}%`);
  return { otherCpuPercent: pct(other), top, loadavg1: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]) };
}

// ---- a crowd of idle processes ----------------------------------------------------------------------

export interface IdleCrowd {
  count: number;
  stop(): Promise<void>;
}

/**
 * Starts `n` idle `sleep` processes from one shell in its own process group, so one signal to that group
 * ends them all. They also end by themselves after `maxSeconds`.
 */
export async function spawnIdleProcesses(n: number, maxSeconds = 900): Promise<IdleCrowd> {
  const child = spawn('/bin/sh', ['-c', `i=0; while [ $i -lt ${n} ]; do sleep ${maxSeconds} </dev/null >/dev/null 2>&1 & i=$((i+1)); done; echo ready; wait`], {
    detached: true,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const pgid = child.pid!;
  const kill = (): void => {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  process.once('exit', kill);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`the idle-process spawner exited early (${code})`)));
  });
  const count = readdirSync('/proc').filter((e) => /^\d+$/.test(e)).length;
  return {
    count,
    async stop() {
      kill();
      process.off('exit', kill);
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const left = readdirSync('/proc').filter((e) => /^\d+$/.test(e)).length;
        if (left < count - n + 50) break;
        await sleep(100);
      }
    },
  };
}

// ---- printing -------------------------------------------------------------------------------------

export function fmt(x: number, unit = ''): string {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  const s = x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  return unit ? `${s} ${unit}` : s;
}

export function fmtRatio(r: number | undefined): string {
  if (r === undefined || !Number.isFinite(r)) return '';
  if (r >= 100) return `${Math.round(r).toLocaleString('en-US')}×`;
  if (r >= 10) return `${r.toFixed(1)}×`;
  return `${r.toFixed(2)}×`;
}

export function metMark(m: boolean | null | undefined): string {
  return m === true ? 'met' : m === false ? 'MISSED' : '';
}

/** Markdown table: figure, value, anchor, ratio, target, met. */
export function markdownTable(rows: readonly Row[]): string {
  const head = ['#', 'figure', 'value', 'anchor (same run)', 'ratio', 'target', ''];
  const lines = rows.map((r) => [
    r.id,
    r.figure,
    fmt(r.value, r.unit),
    r.anchor ? `${r.anchor.name}: ${fmt(r.anchor.value, r.anchor.unit)}` : '',
    fmtRatio(r.ratio),
    r.target ?? '',
    metMark(r.met),
  ]);
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map((_, i) => (i === 2 || i === 4 ? '---:' : '---')).join(' | ')} |`,
    ...lines.map((l) => `| ${l.map(esc).join(' | ')} |`),
  ].join('\n');
}
