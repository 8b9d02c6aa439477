import { describe, expect, it } from 'vitest';
import { percentile, resolvedStorm } from '../support/resolved-storm.js';

/**
 * Resolved alerts must not stall the server (SECURITY.md, Limits): the lookup of the triage a resolved alert
 * started costs the same whatever the node's history (an index), and a notification resolving a whole group
 * is worked through one alert per event-loop turn. The figures are in bench/resolved-storm.ts; this asserts
 * them loosely (the median /-/healthy latency), with room for a busy machine.
 */
describe('a storm of resolved alerts', () => {
  it('1,000 resolved alerts against a node with 5,000 stored triages keep /-/healthy answering within 50 ms', async () => {
    const r = await resolvedStorm({ stored: 5000, resolved: 1000, perWebhook: 100, concurrency: 1 });
    expect(r.statuses).toEqual(new Map([[202, 10]]));
    expect(r.healthMs.length).toBeGreaterThan(3);
    const p50 = percentile(r.healthMs, 50);
    console.log(
      `[resolved storm] ${r.healthMs.length} health checks in ${r.stormMs.toFixed(0)} ms: p50 ${p50.toFixed(1)} ms, p95 ${percentile(r.healthMs, 95).toFixed(1)} ms, max ${Math.max(...r.healthMs).toFixed(1)} ms`,
    );
    expect(p50).toBeLessThan(50);
  });
});
