/**
 * 6. Time to verdict: wall time of a whole triage (triageNode: connect, the playbook's steps, analysis), 5 + 5 s
 * windows, playbook.mode sequential against overlapped, locally and over SSH (a real sshd on loopback), with the
 * file-reading generator faulting. Process start-up of the CLI is not included. Sequential is the anchor: it
 * waits for both windows, overlapped for the longer one.
 *
 * Over SSH twice: logged in as root (the shortest set-up), and as the user scripts/setup-node.sh creates (shell
 * /bin/sh, sudo, the installed playbook), the set-up SECURITY.md asks for. sshd runs every step through the
 * login user's shell, and bash reads that user's ~/.bashrc first: what it does is paid on every step. The time
 * one empty command takes over each login (exec `true`, connection already open) is measured alongside.
 */
import type { Config } from '../src/config/schema.js';
import { triageNode } from '../src/pipeline.js';
import { localConfig, sshConfig } from '../test/engine/helpers.js';
import { startFileReader, waitForMajorFaults } from '../test/support/generators.js';
import { startSshd, type Sshd } from '../test/support/sshd.js';
import { installTriageUser, type TriageUser } from '../test/support/triage-user.js';
import { Client } from 'ssh2';
import { readFileSync } from 'node:fs';
import { median, round, type BenchOptions, type Row, type Section } from './lib.js';

type Mode = Config['playbook']['mode'];
type Where = 'local' | 'ssh' | 'ssh-user';

const TARGET_S: Record<Where, number> = { local: 6.5, ssh: 7, 'ssh-user': 7 };
const WHERE_NAME: Record<Where, string> = { local: 'local', ssh: 'ssh as root', 'ssh-user': 'ssh as the setup-node.sh user (sudo, installed playbook)' };
const BENCH_USER = 'pft-bench-triage';

/** Median wall time, ms, of an empty command over one open connection: what the login shell costs each step. */
async function execRoundTrip(sshd: Sshd, user: string, keyPath: string): Promise<number> {
  const c = new Client();
  await new Promise<void>((resolve, reject) => {
    c.once('ready', () => resolve());
    c.once('error', reject);
    c.connect({ host: sshd.host, port: sshd.port, username: user, privateKey: readFileSync(keyPath) });
  });
  try {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) =>
        c.exec('exec true', (err, stream) => {
          if (err) return reject(err);
          stream.resume();
          stream.stderr.resume();
          stream.once('close', () => resolve());
        }),
      );
      times.push(performance.now() - t0);
    }
    return median(times);
  } finally {
    c.end();
  }
}

export async function run(opts: BenchOptions): Promise<Section> {
  const runs = opts.quick ? 1 : 3;
  const windows = opts.quick ? { sampleSeconds: 2, captureSeconds: 2 } : { sampleSeconds: 5, captureSeconds: 5 };
  const wheres: Where[] = ['local', 'ssh', 'ssh-user'];
  const times = Object.fromEntries(wheres.flatMap((w) => [`${w} sequential`, `${w} overlapped`].map((k) => [k, [] as number[]]))) as Record<`${Where} ${Mode}`, number[]>;
  const verdicts: string[] = [];
  let sshd: Sshd | undefined;
  let triage: TriageUser | undefined;
  const roundTrip = { root: 0, user: 0 };
  const gen = await startFileReader({ sizeMb: 64, pagesPerSec: 2000 });
  try {
    await waitForMajorFaults(gen.pid, 500);
    triage = installTriageUser(BENCH_USER);
    sshd = await startSshd({ logLevel: 'ERROR', ...triage.sshdOptions });
    roundTrip.root = await execRoundTrip(sshd, sshd.user, sshd.privateKeyPath);
    roundTrip.user = await execRoundTrip(sshd, triage.user, triage.key.privateKeyPath);
    opts.log(`verdict: exec \`true\` over an open connection: ${roundTrip.root.toFixed(0)} ms as root, ${roundTrip.user.toFixed(0)} ms as ${triage.user}`);
    for (let i = 0; i < runs; i++) {
      for (const where of wheres) {
        for (const mode of ['sequential', 'overlapped'] as const) {
          const playbook = { ...windows, mode };
          const { config, node } =
            where === 'local'
              ? localConfig(playbook)
              : where === 'ssh'
                ? sshConfig(sshd, { playbook })
                : sshConfig(sshd, { playbook, user: triage.user, privateKeyPath: triage.key.privateKeyPath, installed: true });
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
    triage?.remove();
    await gen.stop();
  }
  const med = (k: keyof typeof times): number => round(median(times[k]), 2);
  const rows: Row[] = [];
  const ids = { local: ['7a', '7b'], ssh: ['7c', '7d'], 'ssh-user': ['7e', '7f'] } as const;
  for (const where of wheres) {
    const seq = med(`${where} sequential`);
    const ovl = med(`${where} overlapped`);
    rows.push({
      id: ids[where][0],
      measurement: 'time to verdict',
      figure: `${windows.sampleSeconds}+${windows.captureSeconds} s windows, ${WHERE_NAME[where]}, sequential (median of ${runs})`,
      value: seq,
      unit: 's',
    });
    rows.push({
      id: ids[where][1],
      measurement: 'time to verdict',
      figure: `${windows.sampleSeconds}+${windows.captureSeconds} s windows, ${WHERE_NAME[where]}, overlapped (median of ${runs})`,
      value: ovl,
      unit: 's',
      anchor: { name: 'sequential', value: seq, unit: 's' },
      ratio: round(ovl / seq, 2),
      ...(opts.quick ? {} : { target: `≤ ${TARGET_S[where]} s`, met: ovl <= TARGET_S[where] }),
    });
  }
  rows.push({
    id: '7g',
    measurement: 'time to verdict',
    figure: 'one empty command over an open SSH connection (exec `true`, median of 5), root login',
    value: Math.round(roundTrip.root),
    unit: 'ms',
    anchor: { name: 'as the setup-node.sh user', value: Math.round(roundTrip.user), unit: 'ms' },
    ratio: round(roundTrip.root / Math.max(1, roundTrip.user), 2),
    note: "sshd starts each step in the login user's shell; bash reads ~/.bashrc first",
  });
  const notes = [
    `verdicts — ${verdicts.join('; ')}`,
    `each SSH step starts in the login user's shell: ${Math.round(roundTrip.root)} ms per step as root here (its ~/.bashrc runs on every command), ` +
      `${Math.round(roundTrip.user)} ms as the setup-node.sh user (/bin/sh); sequential mode runs two steps, overlapped one`,
  ];
  return { rows, details: { windows, runs, times, execRoundTripMs: roundTrip }, notes };
}
