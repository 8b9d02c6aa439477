/**
 * 8. Capture at high fault rates: how much the capture slows a process that does nothing but major-fault, with
 * every fault recorded (`perf record -e major-faults -c 1 -d -p PID`, what the playbook ran before sampling) and
 * with the sampling period (the same command with -c P, P chosen by the playbook's rule from pgmajfault over the
 * 0.2 s before the window; the playbook's own capture step is run once to check it picks P by that rule). The process is pft-filereader, unpaced, on the in-memory ext4 of test/support/ram-disk.ts (tens of
 * thousands of real major faults a second; a disk here gives far fewer). Windows alternate none, every fault,
 * none, sampled, …, none: each capture is compared with the no-capture windows on either side of it, and the
 * reader's rate and CPU are read inside the recording (from 1 s after the step starts, for windowSeconds − 1.5 s).
 * Three figures are given: throughput lost, the slowdown implied by the CPU each fault costs the reader (the
 * sample is written in the faulting thread), and the CPU `perf record` itself uses while it records (read from its
 * /proc/PID/stat inside the same window), which on a small node is taken from the faulting processes. The last is
 * the steadiest on a shared machine.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { playbookScriptPath } from '../src/paths.js';
import { parseCapture } from '../src/playbook/parse.js';
import { parsePerfScript } from '../src/playbook/perf-script.js';
import { newNonce } from '../src/playbook/steps.js';
import { startFileReader, waitForMajorFaults, type FileGenerator } from '../test/support/generators.js';
import { createRamDisk } from '../test/support/ram-disk.js';
import { bracketedWindows, descendsFrom, median, procCounters, processTable, round, sleep, slowdownSpread, type BenchOptions, type Row, type Section } from './lib.js';

type Mode = 'none' | 'every' | 'sampled';

/** The issue's target: a process making this many major faults/s is slowed by less than TARGET_PCT. */
const TARGET_RATE = 40_000;
const TARGET_PCT = 2;

const PERF_FAST = ['-N', '-B', '--no-bpf-event', '--synth=no'];

interface Window {
  mode: Mode;
  /** Reader major faults/s inside the window. */
  rate: number;
  /** Reader CPU per major fault, µs. */
  cpuPerFaultUs: number;
  /** CPU of `perf record` inside the window, in cores (1 = one whole CPU); 0 without capture. */
  perfCores: number;
  /** Capture windows: samples perf recorded and lost; sampled windows: the period and the rate that chose it. */
  period?: number;
  periodRate?: number;
  samples?: number;
  lost?: number;
}

/** The playbook's cap (PFT_MAX_SAMPLES) and the quarter of it a sampled window aims at. */
const SAMPLE_ROOM = 50_000 / 4;

function periodFor(ratePerSec: number, seconds: number): number {
  return Math.max(1, Math.ceil((ratePerSec * seconds) / SAMPLE_ROOM));
}

function pgmajfault(): number {
  return Number(/^pgmajfault (\d+)$/m.exec(readFileSync('/proc/vmstat', 'utf8'))?.[1] ?? NaN);
}

/** The playbook's own capture step on the reader: its period must follow the same rule from the rate it read. */
async function playbookPeriod(gen: FileGenerator, seconds: number): Promise<{ period: number; periodRate: number; samples: number; lost: number }> {
  const nonce = newNonce();
  const r = await runToEnd(['sh', playbookScriptPath, 'capture', nonce, String(seconds), 'perf', String(gen.pid)]).done;
  if (r.code !== 0) throw new Error(`playbook capture exited ${r.code}: ${r.stderr.trim().slice(-300)}`);
  const c = parseCapture(r.stdout, nonce);
  if (c.tier !== 'perf') throw new Error(`the playbook captured with ${c.tier}, not perf: ${JSON.stringify(c.attempts)}`);
  const out = { period: c.period ?? 1, periodRate: c.periodRate ?? 0, samples: c.samples.length, lost: c.lost };
  if (out.period !== periodFor(out.periodRate, seconds)) throw new Error(`the playbook chose period ${out.period} at ${out.periodRate}/s: the rule gives ${periodFor(out.periodRate, seconds)}`);
  return out;
}

/** The `perf` process at or below `root` (the playbook runs it under `timeout`), or null. */
function perfUnder(root: number): number | null {
  const table = processTable();
  for (const [pid, e] of table) if (e.comm === 'perf' && descendsFrom(pid, root, table)) return pid;
  return null;
}

function cpuOf(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    return procCounters(pid).cpuS;
  } catch {
    return null;
  }
}

function runToEnd(argv: string[], input?: string): { pid: number; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.end(input ?? '');
  return { pid: child.pid!, done: new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr }))) };
}

async function window(gen: FileGenerator, mode: Mode, seconds: number): Promise<Window> {
  const dir = mkdtempSync(join(tmpdir(), 'pft-bench-sampling-'));
  try {
    // The period as the playbook picks it: pgmajfault over 0.2 s, then the smallest P that keeps the window's
    // expected faults within a quarter of the cap (checked against the playbook's own choice in playbookPeriod).
    let period = 1;
    let periodRate = 0;
    if (mode === 'sampled') {
      const v0 = pgmajfault();
      const t = performance.now();
      await sleep(200);
      periodRate = Math.floor(((pgmajfault() - v0) * 1000) / (performance.now() - t));
      period = periodFor(periodRate, seconds);
    }
    const step =
      mode === 'none'
        ? null
        : runToEnd(['perf', 'record', ...PERF_FAST, '-e', 'major-faults', '-c', String(period), '-d', '-p', String(gen.pid), '-o', join(dir, 'perf.data'), '--', 'sleep', String(seconds)]);
    // Inside the recording: perf has started (the playbook first measures the rate for 0.2 s) and not yet stopped.
    await sleep(1000);
    const perfPid = step ? perfUnder(step.pid) : null;
    if (step && perfPid === null) throw new Error(`${mode}: no perf process running 1 s into the capture`);
    const a = procCounters(gen.pid);
    const pa = cpuOf(perfPid);
    const t0 = performance.now();
    await sleep((seconds - 1.5) * 1000);
    const b = procCounters(gen.pid);
    const pb = cpuOf(perfPid);
    const dt = (performance.now() - t0) / 1000;
    const faults = Math.max(1, b.majflt - a.majflt);
    if (step && (pa === null || pb === null)) throw new Error(`${mode}: perf exited inside the measured window`);
    const w: Window = {
      mode,
      rate: (b.majflt - a.majflt) / dt,
      cpuPerFaultUs: ((b.cpuS - a.cpuS) / faults) * 1e6,
      perfCores: pa === null || pb === null ? 0 : (pb - pa) / dt,
    };
    if (!step) {
      await sleep(500);
      return w;
    }
    const r = await step.done;
    if (r.code !== 0) throw new Error(`${mode} capture exited ${r.code}: ${r.stderr.trim().slice(-300)}`);
    const script = await runToEnd(['perf', 'script', '-i', join(dir, 'perf.data'), '--show-lost-events', '-F', 'sw:pid,tid,time,addr']).done;
    const parsed = parsePerfScript(script.stdout);
    Object.assign(w, mode === 'sampled' ? { period, periodRate } : {}, { samples: parsed.samples.length, lost: parsed.lost });
    return w;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(opts: BenchOptions): Promise<Section> {
  const seconds = 5;
  const rounds = opts.quick ? 2 : 4;
  const order: Mode[] = [...Array.from({ length: rounds }, () => ['none', 'every', 'none', 'sampled'] as const).flat(), 'none'];
  const windows: Window[] = [];
  const disk = createRamDisk(160);
  let gen: FileGenerator | undefined;
  let playbook: Awaited<ReturnType<typeof playbookPeriod>> | undefined;
  try {
    gen = await startFileReader({ dir: disk.dir, sizeMb: 64 });
    await waitForMajorFaults(gen.pid, 5000);
    opts.log(`sampling: pft-filereader on ${disk.device} (${disk.backing}), ${order.length} windows of ${seconds} s: ${rounds} × (none, every fault, none, sampled), none`);
    playbook = await playbookPeriod(gen, seconds);
    opts.log(`sampling: the playbook's own capture: period ${playbook.period} at ${playbook.periodRate}/s before the window, ${playbook.samples} samples, ${playbook.lost} cut`);
    for (const mode of order) {
      const w = await window(gen, mode, seconds);
      windows.push(w);
      opts.log(
        `sampling:   ${mode.padEnd(8)} ${Math.round(w.rate)} faults/s, ${w.cpuPerFaultUs.toFixed(2)} µs CPU/fault, perf ${(w.perfCores * 100).toFixed(1)} % of a CPU` +
          (w.period ? `; period ${w.period} (rate before ${w.periodRate}/s)` : '') +
          (w.samples === undefined ? '' : `; ${w.samples} samples, ${w.lost} lost`),
      );
    }
  } finally {
    await gen?.stop();
    disk.remove();
  }

  /** Each capture window against the mean of the no-capture windows on either side of it. */
  const bracketed = (m: Mode, f: (w: Window) => number): number[] => bracketedWindows(windows, m, f);
  const slowdown = (m: Mode): number => (1 - median(bracketed(m, (w) => w.rate))) * 100;
  const spread = (m: Mode): string => slowdownSpread(bracketed(m, (w) => w.rate), 1);
  const byMode = (m: Mode): Window[] => windows.filter((w) => w.mode === m);
  const none = byMode('none');
  const baseRate = median(none.map((w) => w.rate));
  const baseCpuUs = median(none.map((w) => w.cpuPerFaultUs));
  /** Added CPU per fault × the no-capture rate: the share of the reader's time the capture takes. */
  const implied = (m: Mode): number => Math.max(0, baseCpuUs * (median(bracketed(m, (w) => w.cpuPerFaultUs)) - 1)) * 1e-6 * baseRate * 100;
  const sampledWindows = windows.filter((w) => w.mode === 'sampled');
  const periods = sampledWindows.map((w) => w.period!);
  const fastEnough = baseRate >= TARGET_RATE;
  /** One disturbed window (a neighbour on a busy machine) is tolerated: the rest must agree within 10 points. */
  const noisy = (m: Mode): boolean => {
    const xs = bracketed(m, (w) => w.rate).map((r) => (1 - r) * 100);
    const mid = median(xs);
    const far = xs.reduce((a, x, i) => (Math.abs(x - mid) > Math.abs(xs[a]! - mid) ? i : a), 0);
    const rest = xs.length >= 4 ? xs.filter((_, i) => i !== far) : xs;
    return Math.max(...rest) - Math.min(...rest) > 10;
  };
  const judge = (value: number, m: Mode): boolean | null => (!fastEnough || noisy(m) ? null : value < TARGET_PCT);

  const notes = [
    `the playbook's own capture step on the reader chose period ${playbook!.period} from ${playbook!.periodRate} faults/s before its window ` +
      `(${playbook!.samples} samples, ${playbook!.lost} cut); the windows below run the same perf command with -c 1 and with the period the same rule gives`,
    `the reader made ${Math.round(baseRate).toLocaleString('en-US')} major faults/s without capture (median of ${none.length} windows; ` +
      `${fastEnough ? 'at or above' : 'BELOW'} the ${TARGET_RATE.toLocaleString('en-US')}/s the target is stated at${fastEnough ? '' : ': the targets are not judged'}); ` +
      `${baseCpuUs.toFixed(2)} µs of its CPU per fault`,
    `sampled windows: period ${periods.join(', ')} from ${sampledWindows.map((w) => `${w.periodRate}/s`).join(', ')} measured before the window; ` +
      `${sampledWindows.map((w) => w.samples).join(', ')} samples (${sampledWindows.map((w) => w.lost).join(', ')} lost by perf); ` +
      `recording every fault gave ${byMode('every').map((w) => w.samples).join(', ')} samples a window, where the node keeps at most 50,000`,
    `single windows ranged ${spread('every')} (every fault) and ${spread('sampled')} (sampled) in throughput lost; when, leaving out the one farthest from the median, they still span more than 10 points, the throughput figure is not judged`,
  ];
  const rows: Row[] = [
    {
      id: '8a',
      measurement: 'capture at high fault rates',
      figure: 'reader slowdown, every major fault recorded (-c 1)',
      value: round(slowdown('every'), 1),
      unit: '%',
      anchor: { name: 'no capture', value: Math.round(baseRate), unit: 'faults/s' },
      ratio: round(median(bracketed('every', (w) => w.rate)), 3),
      note: 'ratio = throughput with / without',
    },
    {
      id: '8b',
      measurement: 'capture at high fault rates',
      figure: `reader slowdown with the sampling period (1 in ${median(periods)})`,
      value: round(slowdown('sampled'), 1),
      unit: '%',
      anchor: { name: 'every fault (8a)', value: round(slowdown('every'), 1), unit: '%' },
      ratio: round(slowdown('sampled') / Math.max(0.01, slowdown('every')), 2),
      target: `< ${TARGET_PCT} % at ≥ ${TARGET_RATE.toLocaleString('en-US')}/s`,
      met: judge(slowdown('sampled'), 'sampled'),
    },
    {
      id: '8c',
      measurement: 'capture at high fault rates',
      figure: 'slowdown implied by the added CPU per fault, every fault recorded',
      value: round(implied('every'), 1),
      unit: '%',
      anchor: { name: 'CPU per fault without', value: round(baseCpuUs, 2), unit: 'µs' },
      ratio: round(median(bracketed('every', (w) => w.cpuPerFaultUs)), 3),
      note: 'ratio = CPU per fault with / without; implied = added µs per fault × faults/s',
    },
    {
      id: '8d',
      measurement: 'capture at high fault rates',
      figure: 'slowdown implied by the added CPU per fault, with the sampling period',
      value: round(implied('sampled'), 1),
      unit: '%',
      anchor: { name: 'every fault (8c)', value: round(implied('every'), 1), unit: '%' },
      ratio: round(median(bracketed('sampled', (w) => w.cpuPerFaultUs)), 3),
      target: `< ${TARGET_PCT} % at ≥ ${TARGET_RATE.toLocaleString('en-US')}/s`,
      met: fastEnough ? implied('sampled') < TARGET_PCT : null,
    },
    {
      id: '8e',
      measurement: 'capture at high fault rates',
      figure: 'perf record CPU while recording, every major fault (-c 1)',
      value: round(median(byMode('every').map((w) => w.perfCores * 100)), 1),
      unit: '% of a CPU',
      anchor: { name: 'reader faults/s in those windows', value: Math.round(median(byMode('every').map((w) => w.rate))), unit: 'faults/s' },
    },
    {
      id: '8f',
      measurement: 'capture at high fault rates',
      figure: 'perf record CPU while recording, with the sampling period',
      value: round(median(byMode('sampled').map((w) => w.perfCores * 100)), 1),
      unit: '% of a CPU',
      anchor: { name: 'every fault (8e)', value: round(median(byMode('every').map((w) => w.perfCores * 100)), 1), unit: '% of a CPU' },
      // Below 1% of a CPU (one clock tick in the window is 0.3%) a ratio would be noise.
      ...(median(byMode('every').map((w) => w.perfCores)) >= 0.01
        ? { ratio: round(median(byMode('sampled').map((w) => w.perfCores)) / median(byMode('every').map((w) => w.perfCores)), 3) }
        : {}),
      note: 'CPU the capture takes from a node whose processes fault this fast; on 2 cores it competes with them',
    },
  ];
  return {
    rows,
    details: {
      seconds,
      rounds,
      windowOrder: order.join(' '),
      windows: windows.map((w) => ({ ...w, rate: Math.round(w.rate), cpuPerFaultUs: round(w.cpuPerFaultUs, 2), perfCores: round(w.perfCores, 4) })),
      relativeRates: { every: bracketed('every', (w) => w.rate).map((r) => round(r, 3)), sampled: bracketed('sampled', (w) => w.rate).map((r) => round(r, 3)) },
    },
    notes,
  };
}
