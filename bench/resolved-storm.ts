/**
 * 6. Resolved-alert storm: 1,000 resolved alerts (in webhooks of 100, as Alertmanager sends a group resolving)
 * against a node with 5,000 stored triages, while /-/healthy is probed every 5 ms; the bot is its real server
 * with the Slack notifier against the stand-in (test/support/resolved-storm.ts). Anchor: the same storm against
 * a node with a fifth of that history (1,000 triages, one per resolved alert, so every lookup finds its triage in
 * both), in the same run. Target: /-/healthy within 50 ms at the 95th percentile, and a cost
 * per resolved alert that does not depend on the node's history.
 *
 *   flock /tmp/pft-kernel.lock npx tsx bench/resolved-storm.ts    # this measurement alone
 */
import { fileURLToPath } from 'node:url';
import { percentile, resolvedStorm, type StormResult } from '../test/support/resolved-storm.js';
import { median, round, type BenchOptions, type Section } from './lib.js';

const STORED = 5000;
const RESOLVED = 1000;
const PER_WEBHOOK = 100;

function summary(r: StormResult): { p50: number; p95: number; max: number; msPerAlert: number } {
  return {
    p50: round(percentile(r.healthMs, 50), 1),
    p95: round(percentile(r.healthMs, 95), 1),
    max: round(Math.max(...r.healthMs), 1),
    msPerAlert: round(r.stormMs / RESOLVED, 3),
  };
}

export async function run(opts: BenchOptions): Promise<Section> {
  const runs = opts.quick ? 1 : 3;
  const full: ReturnType<typeof summary>[] = [];
  const empty: ReturnType<typeof summary>[] = [];
  for (let i = 0; i < runs; i++) {
    full.push(summary(await resolvedStorm({ stored: STORED, resolved: RESOLVED, perWebhook: PER_WEBHOOK, concurrency: 1 })));
    empty.push(summary(await resolvedStorm({ stored: RESOLVED, resolved: RESOLVED, perWebhook: PER_WEBHOOK, concurrency: 1 })));
    opts.log(`resolved storm run ${i + 1}/${runs}: ${STORED} stored ${JSON.stringify(full.at(-1))}; ${RESOLVED} stored ${JSON.stringify(empty.at(-1))}`);
  }
  const med = (xs: ReturnType<typeof summary>[], k: keyof ReturnType<typeof summary>): number => round(median(xs.map((x) => x[k])), 3);
  const p95 = med(full, 'p95');
  const perAlert = med(full, 'msPerAlert');
  const perAlertEmpty = med(empty, 'msPerAlert');
  return {
    rows: [
      {
        id: '6a',
        measurement: 'resolved storm',
        figure: `/-/healthy p95 during ${RESOLVED.toLocaleString('en-US')} resolved alerts, ${STORED.toLocaleString('en-US')} triages stored (median of ${runs})`,
        value: p95,
        unit: 'ms',
        anchor: { name: `${RESOLVED.toLocaleString('en-US')} triages stored`, value: med(empty, 'p95'), unit: 'ms' },
        ratio: round(p95 / Math.max(0.1, med(empty, 'p95')), 2),
        target: '≤ 50 ms',
        met: p95 <= 50,
      },
      {
        id: '6b',
        measurement: 'resolved storm',
        figure: 'wall time per resolved alert (webhook to notifier done)',
        value: perAlert,
        unit: 'ms',
        anchor: { name: `${RESOLVED.toLocaleString('en-US')} triages stored`, value: perAlertEmpty, unit: 'ms' },
        ratio: round(perAlert / perAlertEmpty, 2),
        target: 'independent of history (≤ 2× the anchor)',
        met: perAlert <= 2 * perAlertEmpty,
      },
    ],
    details: { stored: STORED, resolved: RESOLVED, perWebhook: PER_WEBHOOK, full, empty },
    notes: ['latencies are wall-clock from a client in the same process as the server, so a busy machine raises them'],
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const section = await run({ quick: process.argv.includes('--quick'), log: (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(`${JSON.stringify(section, null, 2)}\n`);
}
