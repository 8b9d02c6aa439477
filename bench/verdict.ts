/**
 * 6. Time to verdict: wall time of a whole triage (triageNode: connect, the playbook's steps, analysis), 5 + 5 s
 * windows, playbook.mode sequential against overlapped, locally and over SSH (a real sshd on loopback), with the
 * file-reading generator faulting. Process start-up of the CLI is not included. Sequential is the anchor: it
 * waits for both windows, overlapped for the longer one.
 */
import type { Config } from '../src/config/schema.js';
import { triageNode } from '../src/pipeline.js';
import { localConfig, sshConfig } from '../test/engine/helpers.js';
import { startFileReader, waitForMajorFaults } from '../test/support/generators.js';
import { startSshd, type Sshd } from '../test/support/sshd.js';
import { median, round, type BenchOptions, type Row, type Section } from './lib.js';

type Mode = Config['playbook']['mode'];
type Where = 'local' | 'ssh';

const TARGET_S: Record<Where, number> = { local: 6.5, ssh: 7 };

export async function run(opts: BenchOptions): Promise<Section> {
  const runs = opts.quick ? 1 : 3;
  const windows = opts.quick ? { sampleSeconds: 2, captureSeconds: 2 } : { sampleSeconds: 5, captureSeconds: 5 };
  const times: Record<`${Where} ${Mode}`, number[]> = { 'local sequential': [], 'local overlapped': [], 'ssh sequential': [], 'ssh overlapped': [] };
  const verdicts: string[] = [];
  let sshd: Sshd | undefined;
  const gen = await startFileReader({ sizeMb: 64, pagesPerSec: 2000 });
  try {
    await waitForMajorFaults(gen.pid, 500);
    sshd = await startSshd({ logLevel: 'ERROR' });
    for (let i = 0; i < runs; i++) {
      for (const where of ['local', 'ssh'] as const) {
        for (const mode of ['sequential', 'overlapped'] as const) {
          const playbook = { ...windows, mode };
          const { config, node } = where === 'local' ? localConfig(playbook) : sshConfig(sshd, { playbook });
          const t0 = performance.now();
          const r = await triageNode(config, node, { kind: 'cli' });
          const s = (performance.now() - t0) / 1000;
          if (r.verdict.kind === 'failed') throw new Error(`${where} ${mode} triage failed: ${r.verdict.summary}`);
          times[`${where} ${mode}`].push(s);
          verdicts.push(`${where} ${mode}: ${r.verdict.kind} (${r.verdict.tracer}, ${r.analysis?.capture.samples ?? 0} samples) in ${s.toFixed(2)} s`);
          opts.log(`verdict: ${verdicts.at(-1)}`);
        }
      }
    }
  } finally {
    await sshd?.stop();
    await gen.stop();
  }
  const med = (k: keyof typeof times): number => round(median(times[k]), 2);
  const rows: Row[] = [];
  const ids = { local: ['6a', '6b'], ssh: ['6c', '6d'] } as const;
  for (const where of ['local', 'ssh'] as const) {
    const seq = med(`${where} sequential`);
    const ovl = med(`${where} overlapped`);
    rows.push({
      id: ids[where][0],
      measurement: 'time to verdict',
      figure: `${windows.sampleSeconds}+${windows.captureSeconds} s windows, ${where}, sequential (median of ${runs})`,
      value: seq,
      unit: 's',
    });
    rows.push({
      id: ids[where][1],
      measurement: 'time to verdict',
      figure: `${windows.sampleSeconds}+${windows.captureSeconds} s windows, ${where}, overlapped (median of ${runs})`,
      value: ovl,
      unit: 's',
      anchor: { name: 'sequential', value: seq, unit: 's' },
      ratio: round(ovl / seq, 2),
      ...(opts.quick ? {} : { target: `≤ ${TARGET_S[where]} s`, met: ovl <= TARGET_S[where] }),
    });
  }
  return { rows, details: { windows, runs, times }, notes: [`verdicts — ${verdicts.join('; ')}`] };
}
