import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { equalityMatchers, promqlString, regexLiteral, selector } from '../../../src/context/promql.js';
import { planQueries } from '../../../src/context/prometheus.js';
import { lexPromql, selectorsOf, shapeOf } from '../../support/promql-lexer.js';

/** What promqlString promises to keep: the value, with a lone surrogate (not sendable as UTF-8) as U+FFFD. */
function wellFormed(s: string): string {
  let out = '';
  for (const ch of s) out += ch.length === 1 && ch.charCodeAt(0) >= 0xd800 && ch.charCodeAt(0) <= 0xdfff ? '\ufffd' : ch;
  return out;
}

const INJECTION = 'x"} or vector(1) or {a="';
const nasty = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\r', '{', '}', '=', '~', ',', '\u2028', 'x', ' ', '\ud800', '`', "'"), maxLength: 30 }),
  fc.constant(INJECTION),
);

describe('promqlString', () => {
  it('quotes backslash, double quote and control characters', () => {
    expect(promqlString('a"b\\c\nd\te\u0001\u2028')).toBe('"a\\"b\\\\c\\nd\\te\\u0001\\u2028"');
    expect(promqlString(INJECTION)).toBe('"x\\"} or vector(1) or {a=\\""');
  });
  it('keeps printable text as it is', () => {
    expect(promqlString('10.0.0.5:9100 ünïcødé 🙂')).toBe('"10.0.0.5:9100 ünïcødé 🙂"');
  });
  it('reads back as exactly the value, and is always one string token (property)', () => {
    fc.assert(
      fc.property(nasty, (s) => {
        const toks = lexPromql(promqlString(s));
        expect(toks).toHaveLength(1);
        expect(toks[0]!.kind).toBe('string');
        expect(toks[0]!.value).toBe(wellFormed(s));
      }),
      { numRuns: 2000, seed: 15 },
    );
  });
});

describe('selector', () => {
  it('builds equality matchers sorted by label name', () => {
    expect(selector(equalityMatchers({ job: 'node', instance: '10.0.0.5:9100' }))).toBe('{instance="10.0.0.5:9100",job="node"}');
  });
  it('refuses a label name Prometheus would not accept', () => {
    expect(() => selector([{ name: 'a"b', op: '=', value: 'x' }])).toThrow(/label name/);
  });
  it('regexLiteral makes a host match only itself', () => {
    const re = new RegExp(`^${regexLiteral('10.0.0.5')}(:[0-9]+)?$`);
    expect(re.test('10.0.0.5:10250')).toBe(true);
    expect(re.test('10a0b0c5:10250')).toBe(false);
  });
});

describe('planQueries', () => {
  const pc = { lookbackMinutes: 60, rateWindowSeconds: 60 };
  const now = new Date('2026-11-30T03:27:41Z');

  it('asks for the pgmajfault rate, swap-ins, pressure, available memory and containers', () => {
    const plan = planQueries({ instance: '10.0.0.5:9100', job: 'node' }, pc, now);
    expect(plan.stepSeconds).toBe(15);
    expect(plan.start % 15).toBe(0);
    expect(plan.end).toBe(now.getTime() / 1000);
    expect(plan.queries.map((q) => q.promql)).toEqual([
      'sum(rate(node_vmstat_pgmajfault{instance="10.0.0.5:9100",job="node"}[60s]))',
      'sum(rate(node_vmstat_pswpin{instance="10.0.0.5:9100",job="node"}[60s]))',
      'sum(rate(node_pressure_memory_waiting_seconds_total{instance="10.0.0.5:9100",job="node"}[60s]))',
      'sum(rate(node_pressure_memory_stalled_seconds_total{instance="10.0.0.5:9100",job="node"}[60s]))',
      'sum(node_memory_MemAvailable_bytes{instance="10.0.0.5:9100",job="node"})',
      'topk(5, sum by (namespace, pod, container, name) (rate(container_memory_failures_total{failure_type="pgmajfault",scope="container",instance=~"10\\\\.0\\\\.0\\\\.5(:[0-9]+)?"}[60s])))',
    ]);
  });
  it('without an instance label there is no container query', () => {
    expect(planQueries({ nodename: 'node-7' }, pc, now).queries.map((q) => q.name)).not.toContain('containerPgmajfault');
  });
  it('a short lookback gets one point a second and a rate window no shorter than the step', () => {
    expect(planQueries({ a: 'b' }, { lookbackMinutes: 2, rateWindowSeconds: 5 }, now)).toMatchObject({ stepSeconds: 1, rateWindowSeconds: 5 });
    expect(planQueries({ a: 'b' }, { lookbackMinutes: 24 * 60, rateWindowSeconds: 60 }, now)).toMatchObject({ stepSeconds: 360, rateWindowSeconds: 360 });
  });

  it('a label value never changes a query: each has its fixed shape and exactly the given values (property)', () => {
    const shapes = planQueries({ instance: 'h:1', job: 'j' }, pc, now).queries.map((q) => shapeOf(q.promql));
    fc.assert(
      fc.property(nasty, nasty, (instance, job) => {
        const plan = planQueries({ instance, job }, pc, now);
        expect(plan.queries.map((q) => shapeOf(q.promql))).toEqual(shapes);
        for (const q of plan.queries.slice(0, 5)) {
          expect(selectorsOf(q.promql)).toEqual([
            [
              { name: 'instance', op: '=', value: wellFormed(instance) },
              { name: 'job', op: '=', value: wellFormed(job) },
            ],
          ]);
        }
        const containers = selectorsOf(plan.queries[5]!.promql);
        expect(containers).toHaveLength(1);
        expect(containers[0]!.map((m) => m.name)).toEqual(['failure_type', 'scope', 'instance']);
      }),
      { numRuns: 1000, seed: 15 },
    );
  });
});
