/**
 * 10. The shared store (PostgreSQL, a private cluster on loopback, durability off as in the tests): what one admission
 * and one claimed-and-completed triage cost, and whether two replicas drain a queue faster than one. No target
 * yet: these are the figures to compare the next change with.
 *
 *   npm run bench -- --only=store
 */
import { fileURLToPath } from 'node:url';
import { TriageError } from '../src/errors.js';
import { failureVerdict } from '../src/model/failure.js';
import { newTriageId } from '../src/model/ids.js';
import { PostgresStore } from '../src/store/postgres/pg-store.js';
import { alertDedupKey, type AdmitStep, type Completion } from '../src/store/store.js';
import { startPostgres } from '../test/support/postgres.js';
import { median, round, type BenchOptions, type Section } from './lib.js';

const NODES = 20;

function alert(i: number): AdmitStep {
  const trigger = { kind: 'alert' as const, alertname: 'NodeMemoryMajorPagesFaults', fingerprint: `fp-${i}`, startsAt: '2026-11-30T10:00:00Z', labels: {}, annotations: {} };
  return {
    op: 'alert',
    id: newTriageId(),
    node: `node-${i % NODES}`,
    trigger,
    dedupKey: alertDedupKey(trigger.fingerprint, trigger.startsAt),
    dropped: failureVerdict(new TriageError('queue_full', 'dropped')),
  };
}

const done: Completion = {
  status: 'done',
  verdict: { ...failureVerdict(new TriageError('internal', 'x')), kind: 'quiet', failure: null, summary: 'no major faults' },
  finishedAt: new Date(),
  reportMarkdown: '# report',
  resultJson: '{}',
};

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** Claims and completes until `total` triages are done; returns triages per second. */
async function drain(stores: PostgresStore[], workersPerStore: number, total: number): Promise<number> {
  let finished = 0;
  const t0 = performance.now();
  const worker = async (store: PostgresStore, owner: string) => {
    while (finished < total) {
      const t = await store.claimNext({ owner, untilMs: Date.now() + 60_000 }, new Date());
      if (!t) {
        await new Promise((r) => setImmediate(r));
        continue;
      }
      if (!(await store.complete(t.id, owner, done))) throw new Error(`${owner} lost ${t.id}`);
      finished++;
    }
  };
  await Promise.all(stores.flatMap((s, i) => Array.from({ length: workersPerStore }, (_, w) => worker(s, `replica-${i}-${w}`))));
  return total / ((performance.now() - t0) / 1000);
}

export async function run(opts: BenchOptions): Promise<Section> {
  const admissions = opts.quick ? 200 : 1000;
  const queued = opts.quick ? 200 : 1000;
  const runs = opts.quick ? 1 : 3;
  const pg = await startPostgres();
  try {
    const admitMs: number[] = [];
    const one: number[] = [];
    const two: number[] = [];
    for (let r = 0; r < runs; r++) {
      const url = await pg.createDatabase(`bench_${r}`);
      const a = await PostgresStore.open(url);
      const b = await PostgresStore.open(url);
      try {
        const rules = { cooldownMs: 0, maxQueued: 1_000_000 };
        for (let i = 0; i < admissions; i++) {
          const t0 = performance.now();
          await a.admit([alert(r * 1_000_000 + i)], rules, new Date());
          admitMs.push(performance.now() - t0);
        }
        one.push(await drain([a], 2, admissions));
        for (let i = 0; i < queued; i++) await a.admit([alert(r * 1_000_000 + 500_000 + i)], rules, new Date());
        two.push(await drain([a, b], 2, queued));
        opts.log(`store run ${r + 1}/${runs}: admit p50 ${round(percentile(admitMs, 50), 2)} ms; drain ${round(one.at(-1)!, 0)}/s with one replica, ${round(two.at(-1)!, 0)}/s with two`);
      } finally {
        await a.close();
        await b.close();
      }
    }
    const p50 = round(percentile(admitMs, 50), 2);
    const p95 = round(percentile(admitMs, 95), 2);
    const oneRate = round(median(one), 0);
    const twoRate = round(median(two), 0);
    return {
      rows: [
        { id: '10a', measurement: 'shared store', figure: `admission of one alert (PostgreSQL), p50 over ${admissions * runs}`, value: p50, unit: 'ms' },
        { id: '10b', measurement: 'shared store', figure: `admission of one alert (PostgreSQL), p95 over ${admissions * runs}`, value: p95, unit: 'ms' },
        {
          id: '10c',
          measurement: 'shared store',
          figure: `claim + complete over ${NODES} nodes, two replicas × 2 workers (median of ${runs})`,
          value: twoRate,
          unit: 'triages/s',
          anchor: { name: 'one replica × 2 workers', value: oneRate, unit: 'triages/s' },
          ratio: round(twoRate / oneRate, 2),
        },
      ],
      details: { admissions, queued, runs, nodes: NODES, admitMs: { p50, p95 }, drainPerSecond: { one, two } },
      notes: ['PostgreSQL runs on the same 2 cores as the replicas, with fsync off: the figures are the store\'s own cost, not a production database\'s.'],
    };
  } finally {
    await pg.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const section = await run({ quick: process.argv.includes('--quick'), log: (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(`${JSON.stringify(section, null, 2)}\n`);
}
