/**
 * context.prometheus on real major faults: a fault generator runs on this machine, a real node exporter
 * reads its /proc and a real Prometheus scrapes it every second. It runs a fault generator, so like
 * test/engine/* it must not share the kernel with another real-fault test.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { fetchPrometheusContext } from '../../src/context/prometheus.js';
import { isPrometheusFailure, prometheusContextSchema, type PrometheusHistory } from '../../src/model/prometheus-context.js';
import type { Trigger } from '../../src/model/triage.js';
import { triageNode } from '../../src/pipeline.js';
import { historyChart } from '../../src/report/history-chart.js';
import { historyLine } from '../../src/report/history-line.js';
import { assertNoStrayGenerators, cleanupStaleTestState, measureMajfltRate, startFileReader, stopAllGenerators, waitForMajorFaults } from '../support/generators.js';
import { startPrometheus, type PrometheusStack } from '../support/prometheus.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

let stack: PrometheusStack;
beforeAll(async () => {
  cleanupStaleTestState();
  stack = await startPrometheus();
  // Some points before the faults start, so the series has a before and an after.
  await sleep(6000);
});
afterAll(async () => {
  await stopAllGenerators();
  await stack?.stop();
});

describe('context.prometheus with a fault generator running', () => {
  it('holds a rising pgmajfault series that agrees with what the playbook measured', async () => {
    assertNoStrayGenerators();
    const config = configSchema.parse({
      playbook: { sampleSeconds: 5, captureSeconds: 2 },
      prometheus: { url: stack.url, lookbackMinutes: 2, rateWindowSeconds: 5 },
      nodes: [{ name: 'local', local: true }],
    });
    const node = config.nodes[0]!;
    const genStart = Date.now() / 1000;
    const gen = await startFileReader({ sizeMb: 64, pagesPerSec: 3000 });
    await waitForMajorFaults(gen.pid, 600);
    await sleep(Math.max(0, genStart * 1000 + 30_000 - Date.now()));

    const trigger: Trigger = {
      kind: 'alert',
      alertname: 'NodeMemoryMajorPagesFaults',
      fingerprint: 'c0ffee0000000015',
      startsAt: new Date((genStart + 10) * 1000).toISOString(),
      labels: { alertname: 'NodeMemoryMajorPagesFaults', instance: stack.instance, job: 'node', severity: 'warning' },
      annotations: {},
    };
    // As the service will run them: the context beside the playbook, both from the triage's start.
    const now = new Date();
    const t0 = performance.now();
    const [result, ctx] = await Promise.all([
      triageNode(config, node, trigger),
      fetchPrometheusContext(config, node, trigger, { now }).then((c) => ({ c, ms: performance.now() - t0 })),
    ]);
    const genRate = await measureMajfltRate(gen.pid, 2000);
    await gen.stop();

    expect(result.verdict.kind, result.verdict.summary).toBe('mmap-read');
    expect(ctx.c).not.toBeNull();
    prometheusContextSchema.parse(ctx.c);
    if (isPrometheusFailure(ctx.c!)) throw new Error(`context error ${ctx.c!.error.code}: ${ctx.c!.error.message}`);
    const h: PrometheusHistory = ctx.c!;
    const pg = h.series.find((s) => s.query === 'pgmajfault')!;
    expect(pg.points.length).toBeGreaterThanOrEqual(30);

    const playbook = result.analysis!.system.pgmajfaultPerSec;
    const recent = median(pg.points.filter(([t]) => t >= now.getTime() / 1000 - 10).map(([, v]) => v));
    console.log(
      `[prometheus] fetch ${Math.round(ctx.ms)} ms (tookMs ${h.tookMs}, ${h.queries.length} queries, ${pg.points.length} points); ` +
        `pgmajfault: Prometheus last 10 s median ${Math.round(recent)}/s, playbook ${Math.round(playbook)}/s, generator alone ${Math.round(genRate)}/s; ` +
        `summary ${JSON.stringify(h.summary)}`,
    );
    // Same order of magnitude as the playbook's own measurement of the node.
    expect(recent / playbook).toBeGreaterThan(1 / 3);
    expect(recent / playbook).toBeLessThan(3);
    expect(recent).toBeGreaterThan(500);

    // Rising: quiet before the generator, above the threshold since it started.
    expect(h.summary.trend).toBe('rising');
    expect(h.summary.aboveSince).not.toBeNull();
    expect(Date.parse(h.summary.aboveSince!) / 1000).toBeGreaterThanOrEqual(genStart - 2);
    expect(h.summary.peak!.perSec).toBeGreaterThan(500);
    expect(h.summary.latest!.perSec).toBeGreaterThan(500);
    expect(ctx.ms).toBeLessThan(config.prometheus!.timeoutSeconds * 1000);

    // Kept for a person to look at, and to record as a fixture (test/fixtures/prometheus-context-file-reader.cmd).
    const recorded = join(tmpdir(), `pft-prometheus-context-${process.pid}.json`);
    writeFileSync(recorded, `${JSON.stringify({ context: h, trigger, startedAt: result.startedAt, finishedAt: result.finishedAt }, null, 1)}\n`);
    console.log(`[prometheus] context written to ${recorded}`);

    // What the report and the Slack verdict will show.
    const svg = historyChart(h, { alertStartsAt: trigger.startsAt, triageStartedAt: result.startedAt, triageFinishedAt: result.finishedAt });
    expect(/<polyline[^>]*points="([^"]+)" class="node-rate"/.exec(svg)?.[1]!.split(' ').length).toBe(pg.points.length);
    expect(svg).toContain('class="triage"');
    expect(svg).toContain('class="alert"');
    expect(historyLine(h, 'mrkdwn')).toMatch(/^above 500\/s since \d\d:\d\d UTC, peak [\d,]+\/s at \d\d:\d\d, rising$/);
  });
});
