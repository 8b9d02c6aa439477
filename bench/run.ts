/**
 * `npm run bench`: the measurements, each compared with its anchor in the same run.
 * Prints a table and writes bench/results/latest.json.
 *
 *   npm run bench                      # all ten (about 12 minutes on a 2-core machine)
 *   npm run bench -- --quick           # smaller sizes, fewer runs (development)
 *   npm run bench -- --only=resolve,intake
 *
 * Needs root (perf, iotop, sshd), perf, sysstat (pidstat), iotop, openssh-server and a C compiler:
 * scripts/install-test-deps.sh installs them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as capture from './capture.js';
import * as intake from './intake.js';
import { machineBusy, markdownTable, round, type BenchOptions, type Busy, type Row, type Section } from './lib.js';
import * as overhead from './overhead.js';
import * as rank from './rank.js';
import * as replicas from './replicas.js';
import * as resolve from './resolve.js';
import * as resolvedStorm from './resolved-storm.js';
import * as storeReplicas from './store-replicas.js';
import * as sampling from './sampling.js';
import * as verdict from './verdict.js';

const MEASUREMENTS: { key: string; title: string; run: (o: BenchOptions) => Promise<Section> }[] = [
  { key: 'rank', title: '1. Rank footprint', run: rank.run },
  { key: 'capture', title: '2. Capture cost', run: capture.run },
  { key: 'resolve', title: '3. Resolution throughput', run: resolve.run },
  { key: 'intake', title: '4. Webhook intake', run: intake.run },
  { key: 'overhead', title: '5. End-to-end overhead', run: overhead.run },
  { key: 'storm', title: '6. Resolved-alert storm', run: resolvedStorm.run },
  { key: 'verdict', title: '7. Time to verdict', run: verdict.run },
  { key: 'sampling', title: '8. Capture at high fault rates', run: sampling.run },
  { key: 'replicas', title: '9. Several replicas', run: replicas.run },
  { key: 'store', title: '10. Shared store cost', run: storeReplicas.run },
];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const outPath = fileURLToPath(new URL(`./results/${quick ? 'quick' : 'latest'}.json`, import.meta.url));
const startedAt = new Date();
const t0 = performance.now();
const log = (line: string): void => {
  process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
};

if (process.getuid?.() !== 0) {
  process.stderr.write('npm run bench needs root: perf records other processes, iotop needs CAP_NET_ADMIN, the SSH runs log in as root\n');
  process.exit(1);
}

const sections: { key: string; title: string; seconds: number; busyBefore: Busy; section?: Section; error?: string }[] = [];
for (const m of MEASUREMENTS) {
  if (only && !only.includes(m.key)) continue;
  const busyBefore = await machineBusy(1000);
  log(`${m.title}: other processes use ${busyBefore.otherCpuPercent}% CPU (${busyBefore.top.join(', ') || 'nothing'}), load ${busyBefore.loadavg1}`);
  const s0 = performance.now();
  try {
    const section = await m.run({ quick, log });
    sections.push({ key: m.key, title: m.title, seconds: round((performance.now() - s0) / 1000, 1), busyBefore, section });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log(`${m.title} FAILED: ${message}`);
    sections.push({ key: m.key, title: m.title, seconds: round((performance.now() - s0) / 1000, 1), busyBefore, error: message });
  }
}
const busyAfter = await machineBusy(1000);

const rows: Row[] = sections.flatMap((s) => s.section?.rows ?? []);
const totalSeconds = round((performance.now() - t0) / 1000, 0);
const busiest = Math.max(...sections.map((s) => s.busyBefore.otherCpuPercent), busyAfter.otherCpuPercent);
const busyNote =
  busiest >= 20
    ? `the machine was busy: other processes used up to ${busiest}% of one core (of ${cpus().length * 100}%) during the run`
    : `the machine was quiet: other processes used at most ${busiest}% of one core`;

const table = markdownTable(rows);
const missed = rows.filter((r) => r.met === false);
process.stdout.write(`\npagefault-triage benchmarks, ${startedAt.toISOString()} (${hostname()}, ${cpus().length} CPUs, kernel ${release()})${quick ? ' — QUICK' : ''}\n\n`);
process.stdout.write(`${table}\n\n`);
for (const s of sections) {
  if (s.error) process.stdout.write(`- ${s.title}: FAILED: ${s.error}\n`);
  for (const n of s.section?.notes ?? []) process.stdout.write(`- ${s.title}: ${n}\n`);
}
process.stdout.write(`- ${busyNote}\n`);
process.stdout.write(`- targets: ${rows.filter((r) => r.met === true).length} met, ${missed.length} missed${missed.length ? ` (${missed.map((r) => r.id).join(', ')})` : ''}; total ${totalSeconds} s\n`);

mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
writeFileSync(
  outPath,
  `${JSON.stringify(
    {
      startedAt: startedAt.toISOString(),
      totalSeconds,
      quick,
      machine: { cpus: cpus().length, kernel: release(), node: process.version },
      busy: { note: busyNote, after: busyAfter, before: Object.fromEntries(sections.map((s) => [s.key, s.busyBefore])) },
      rows,
      sections: Object.fromEntries(sections.map((s) => [s.key, { title: s.title, seconds: s.seconds, error: s.error, notes: s.section?.notes, details: s.section?.details }])),
    },
    null,
    1,
  )}\n`,
);
log(`wrote ${outPath}`);
process.exit(sections.some((s) => s.error) ? 1 : 0);
