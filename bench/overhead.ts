/**
 * 5. End-to-end overhead: how much longer a triage (triageNode, the engine the bot and the CLI run) takes than
 * its configured sample + capture windows (playbook.mode sequential), locally and over SSH (a real sshd on loopback), on a quiet node and
 * with the file-reading generator running. Median of several runs, local and SSH interleaved.
 *
 * Then a breakdown of where the time goes, on the local node with the generator: the product's own runner and
 * parsers step by step (rank step, capture step, parse, analyze), and the capture's node-side pieces timed alone
 * with the playbook's commands (perf trial, perf record start/stop, perf script).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyze } from '../src/analysis/analyze.js';
import { rankProcesses } from '../src/analysis/rank.js';
import type { Config, NodeConfig } from '../src/config/schema.js';
import type { TriageResult } from '../src/model/triage.js';
import { parseCapture, parseRank } from '../src/playbook/parse.js';
import { captureArgs, captureTimeoutSeconds, newNonce, playbookScript, rankArgs, rankTimeoutSeconds } from '../src/playbook/steps.js';
import { triageNode } from '../src/pipeline.js';
import { LocalConnector } from '../src/remote/local.js';
import { localConfig, sshConfig } from '../test/engine/helpers.js';
import { startFileReader, waitForMajorFaults, type FileGenerator } from '../test/support/generators.js';
import { startSshd, type Sshd } from '../test/support/sshd.js';
import { median, round, timeCommand, type BenchOptions, type Row, type Section } from './lib.js';

interface Run {
  where: 'local' | 'ssh';
  load: 'quiet' | 'generator';
  overheadMs: number;
  verdict: string;
  samples: number;
  steps: Record<string, number>;
  /** The capture ended before its window did (perf -p stops when every traced process has exited): no overhead to measure. */
  cut: boolean;
}

function overheadOf(r: TriageResult): number {
  return Date.parse(r.finishedAt) - Date.parse(r.startedAt) - (r.window.sampleSeconds + r.window.captureSeconds) * 1000;
}

/** Per step, the time beyond its window: connect, rank − sample, capture − capture window, resolve, and the rest. */
function stepsOf(r: TriageResult, total: number): Record<string, number> {
  const t = Object.fromEntries(r.timings.map((x) => [x.step, x.ms]));
  const steps = {
    connect: t.connect ?? 0,
    rank: (t.rank ?? 0) - r.window.sampleSeconds * 1000,
    capture: (t.capture ?? 0) - r.window.captureSeconds * 1000,
    resolve: t.resolve ?? 0,
  };
  return { ...steps, other: total - steps.connect - steps.rank - steps.capture - steps.resolve };
}

/** The local triage's steps one by one through the product's runner and parsers, and the capture's pieces alone. */
async function breakdown(config: Config, node: NodeConfig, gen: FileGenerator): Promise<Record<string, number>> {
  const pb = config.playbook;
  const session = await new LocalConnector().open(node, {});
  const script = playbookScript();
  const out: Record<string, number> = {};
  try {
    const rn = newNonce();
    const rankOut = await session.run({ script, args: rankArgs(rn, pb.sampleSeconds), timeoutSeconds: rankTimeoutSeconds(pb.sampleSeconds), maxOutputBytes: pb.maxOutputBytes });
    let t = performance.now();
    const rank = parseRank(rankOut.stdout, rn);
    out.rankParseMs = performance.now() - t;
    out.rankStepBeyondWindowMs = rankOut.ms - pb.sampleSeconds * 1000;
    out.rankOutputKiB = rankOut.stdout.length / 1024;
    const top = rankProcesses(rank, pb.topProcesses).filter((p) => p.majflt > 0).map((p) => p.pid);
    const cn = newNonce();
    const capOut = await session.run({
      script,
      args: captureArgs(cn, pb.captureSeconds, pb.tracer, top),
      timeoutSeconds: captureTimeoutSeconds(pb.captureSeconds),
      maxOutputBytes: pb.maxOutputBytes,
    });
    t = performance.now();
    const capture = parseCapture(capOut.stdout, cn);
    out.captureParseMs = performance.now() - t;
    out.captureStepBeyondWindowMs = capOut.ms - pb.captureSeconds * 1000;
    out.captureOutputKiB = capOut.stdout.length / 1024;
    out.captureSamples = capture.samples.length;
    t = performance.now();
    analyze({ node: node.name, rank, capture, topProcesses: pb.topProcesses, sampleSeconds: pb.sampleSeconds, captureSeconds: pb.captureSeconds });
    out.analyzeMs = performance.now() - t;
  } finally {
    await session.close();
  }

  // The capture's node-side pieces, with the playbook's commands.
  const dir = mkdtempSync(join(tmpdir(), 'pft-bench-e2e-'));
  try {
    const data = join(dir, 'perf.data');
    const trial = await timeCommand(['perf', 'record', '-N', '-B', '--no-bpf-event', '--synth=no', '-e', 'major-faults', '-c', '1', '-d', '-a', '-o', join(dir, 't.data'), '--', 'sleep', '0.1']);
    out.perfTrialWallMs = trial.wallS * 1000;
    const secs = pb.captureSeconds;
    const rec = await timeCommand(['perf', 'record', '-N', '-B', '--no-bpf-event', '--synth=no', '-e', 'major-faults', '-c', '1', '-d', '-p', String(gen.pid), '-o', data, '--', 'sleep', String(secs)]);
    out.perfRecordStartStopMs = (rec.wallS - secs) * 1000;
    const script = await timeCommand(['sh', '-c', `perf script -i ${data} --show-lost-events -F sw:pid,tid,time,addr | wc -l`], { keepStdout: true });
    out.perfScriptMs = script.wallS * 1000;
    out.perfScriptLines = Number(script.stdout.trim());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, round(v, 1)]));
}

export async function run(opts: BenchOptions): Promise<Section> {
  const runs = opts.quick ? 1 : 3;
  const windows = opts.quick ? { sampleSeconds: 2, captureSeconds: 2 } : { sampleSeconds: 5, captureSeconds: 5 };
  const results: Run[] = [];
  let profile: Record<string, number> = {};
  let sshd: Sshd | undefined;
  try {
    sshd = await startSshd({ logLevel: 'ERROR' });
    // Sequential mode, whose overhead is beyond the sum of its two windows (time to verdict in both modes: verdict.ts).
    const sequential = { ...windows, mode: 'sequential' as const };
    const setups = { local: localConfig(sequential), ssh: sshConfig(sshd, { playbook: sequential }) };
    for (const load of ['quiet', 'generator'] as const) {
      const gen = load === 'generator' ? await startFileReader({ sizeMb: 64 }) : undefined;
      try {
        if (gen) await waitForMajorFaults(gen.pid, 200);
        // A run whose capture was cut short (another process on this shared machine was traced and exited) is
        // tried again, at most twice per condition.
        const valid = { local: 0, ssh: 0 };
        for (let attempt = 0; attempt < runs + 2 && (valid.local < runs || valid.ssh < runs); attempt++) {
          for (const where of ['local', 'ssh'] as const) {
            if (valid[where] >= runs) continue;
            const { config, node } = setups[where];
            const r = await triageNode(config, node, { kind: 'cli' });
            if (r.verdict.kind === 'failed') throw new Error(`${where} triage failed: ${r.verdict.summary}`);
            const total = overheadOf(r);
            const steps = stepsOf(r, total);
            const run: Run = { where, load, overheadMs: total, verdict: r.verdict.kind, samples: r.analysis?.capture.samples ?? 0, steps, cut: steps.capture! < 0 };
            results.push(run);
            if (!run.cut) valid[where]++;
            opts.log(`overhead: ${where} ${load}: +${total} ms (${Object.entries(run.steps).map(([k, v]) => `${k} ${v}`).join(', ')}), ${run.verdict}, ${run.samples} samples${run.cut ? ' — capture cut short, not counted' : ''}`);
          }
        }
        if (gen) {
          profile = await breakdown(setups.local.config, setups.local.node, gen);
          opts.log(`overhead: breakdown ${JSON.stringify(profile)}`);
        }
      } finally {
        await gen?.stop();
      }
    }
  } finally {
    await sshd?.stop();
  }

  const all = (where: Run['where'], load: Run['load']): Run[] => results.filter((r) => r.where === where && r.load === load);
  const pick = (where: Run['where'], load: Run['load']): Run[] => {
    const whole = all(where, load).filter((r) => !r.cut);
    return whole.length > 0 ? whole : all(where, load);
  };
  const med = (where: Run['where'], load: Run['load']): number => median(pick(where, load).map((r) => r.overheadMs));
  const medSteps = (where: Run['where'], load: Run['load']): Record<string, number> => {
    const rs = pick(where, load);
    return Object.fromEntries(Object.keys(rs[0]!.steps).map((k) => [k, median(rs.map((r) => r.steps[k]!))]));
  };
  const stepText = (s: Record<string, number>): string => Object.entries(s).map(([k, v]) => `${k} ${Math.round(v)}`).join(', ');
  const rows: Row[] = [];
  const ids = { 'local quiet': '5a', 'local generator': '5b', 'ssh quiet': '5c', 'ssh generator': '5d' } as const;
  for (const where of ['local', 'ssh'] as const) {
    for (const load of ['quiet', 'generator'] as const) {
      const limit = where === 'local' ? 1000 : 2000;
      const v = med(where, load);
      const quietLocal = med('local', 'quiet');
      rows.push({
        id: ids[`${where} ${load}`],
        measurement: 'end-to-end overhead',
        figure: `triage overhead beyond ${windows.sampleSeconds}+${windows.captureSeconds} s windows, ${where}, ${load === 'quiet' ? 'no generator of ours' : 'file reader running'} (median of ${pick(where, load).length})`,
        value: v,
        unit: 'ms',
        ...(where === 'local' && load === 'quiet' ? {} : { anchor: { name: 'local, no generator', value: quietLocal, unit: 'ms' }, ratio: round(v / quietLocal, 2) }),
        target: `< ${limit / 1000} s`,
        met: v < limit,
        note: `steps (ms beyond windows): ${stepText(medSteps(where, load))}`,
      });
    }
  }
  return {
    rows,
    details: {
      windows,
      runs: results.map((r) => ({ ...r })),
      medianSteps: Object.fromEntries((['local', 'ssh'] as const).flatMap((w) => (['quiet', 'generator'] as const).map((l) => [`${w} ${l}`, medSteps(w, l)]))),
      breakdownLocalWithGenerator: profile,
    },
    notes: [
      `verdicts — ${(['local', 'ssh'] as const).flatMap((w) => (['quiet', 'generator'] as const).map((l) => `${w} ${l}: ${all(w, l).map((r) => `${r.verdict} (${r.samples} samples${r.cut ? ', capture cut short: not counted' : ''})`).join(', ')}`)).join('; ')}`,
      `median ms beyond the windows per step — ${(['local', 'ssh'] as const).flatMap((w) => (['quiet', 'generator'] as const).map((l) => `${w} ${l}: ${stepText(medSteps(w, l))}`)).join('; ')}`,
      `breakdown (local, generator running): ${Object.entries(profile).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    ],
  };
}
