/**
 * A capture that recorded 1 in P major faults (perf -c P): each sample stands for P faults wherever samples are
 * compared with majflt or pgmajfault (reconciliation, the quiet decision), shares are untouched, and the verdict,
 * the report and the Slack message say "1 in P sampled".
 */
import { describe, expect, it } from 'vitest';
import { analyze } from '../../../src/analysis/analyze.js';
import type { CaptureFacts } from '../../../src/model/facts.js';
import type { TriageResult } from '../../../src/model/triage.js';
import { analysisSchema, verdictSchema } from '../../../src/model/verdict.js';
import { renderReport } from '../../../src/report/markdown.js';
import { verdictMessage } from '../../../src/report/slack/messages.js';
import { blockTexts } from '../../slack/helpers.js';
import { viewOf } from '../../slack/fixtures.js';
import { resultOf } from '../report/fixtures.js';
import { scenario, type ScenarioSpec } from './builders.js';

/** The scenario with its capture sampled 1 in `period`, `rate` major faults/s measured before the window. */
function sampled(spec: ScenarioSpec, period: number, rate = 40_000) {
  const input = scenario(spec);
  const capture: CaptureFacts = { ...input.capture, period, periodRate: rate };
  return analyze({ ...input, capture });
}

describe('analysis of a sampled capture', () => {
  // 40,000 faults/s over 5 s: 200,000 faults, 8,000 samples at 1 in 25.
  const fast: ScenarioSpec = { faults: { 1: { file: 4000 }, 2: { heap: 4000 } }, nodePerSec: 40_000 };

  it('keeps the period in the capture summary and its schema', () => {
    const { analysis, verdict } = sampled(fast, 25);
    expect(analysis.capture).toMatchObject({ period: 25, periodRate: 40_000, samples: 8000 });
    expect(() => analysisSchema.parse(analysis)).not.toThrow();
    expect(() => verdictSchema.parse(verdict)).not.toThrow();
  });

  it('leaves out a period of 1', () => {
    expect(sampled(fast, 1).analysis.capture.period).toBeUndefined();
  });

  it('shares and the verdict do not depend on the period', () => {
    const a = sampled(fast, 25);
    const b = analyze(scenario(fast));
    expect(a.analysis.shares).toEqual(b.analysis.shares);
    expect(a.verdict.kind).toBe(b.verdict.kind);
  });

  it('reconciliation counts each sample as P faults', () => {
    const rec = sampled(fast, 25).analysis.reconciliation!;
    for (const r of rec) {
      expect(r).toMatchObject({ period: 25, samples: 4000, majflt: 100_000, undercounted: false });
      expect(r.coverage).toBeCloseTo(1, 5);
    }
    // Unsampled, the same counts would cover 4% of majflt.
    expect(analyze(scenario(fast)).analysis.reconciliation![0]!.coverage).toBeCloseTo(0.04, 5);
  });

  it('still flags a process whose faults fire no perf event', () => {
    const rec = sampled({ ...fast, faults: { 1: { file: 4000 }, 2: { heap: 100 } }, rates: { 1: 20_000, 2: 20_000 } }, 25).analysis.reconciliation!;
    const byPid = new Map(rec.map((r) => [r.pid, r]));
    expect(byPid.get(2)).toMatchObject({ undercounted: true, samples: 100 });
    expect(byPid.get(2)!.coverage).toBeCloseTo(2500 / 100_000, 5);
    expect(byPid.get(1)!.undercounted).toBe(false);
  });

  it('does not judge a process with too few samples expected at this period', () => {
    // 100 faults/s × 5 s at 1 in 25: 20 samples expected, too few to tell an under-count from chance.
    const rec = sampled({ ...fast, faults: { 1: { file: 4000 } }, rates: { 1: 20_000, 3: 100 } }, 25).analysis.reconciliation!;
    expect(rec.find((r) => r.pid === 3)).toMatchObject({ samples: 0, undercounted: false });
  });

  it('is not quiet when few samples stand for many faults', () => {
    // 20 samples in 5 s at 1 in 1,000: 4,000 faults/s, although 4 samples/s alone would look quiet.
    const spec: ScenarioSpec = { faults: { 1: { file: 20 } }, nodePerSec: 2, capturePerSec: 2 };
    expect(analyze(scenario(spec)).verdict.kind).toBe('quiet');
    expect(sampled(spec, 1000).verdict.kind).toBe('mmap-read');
  });

  it('says so in a verdict note', () => {
    const { verdict } = sampled(fast, 25);
    expect(verdict.notes).toContain(
      '1 in 25 major faults sampled (perf -c 25): the node made 40,000 major faults/s just before the capture, more than the sample cap holds; the fault counts are samples, each standing for 25 faults',
    );
    expect(analyze(scenario(fast)).verdict.notes.some((n) => n.includes('sampled'))).toBe(false);
  });
});

describe('report and Slack of a sampled capture', () => {
  const withPeriod = (period: number) => (r: TriageResult) => {
    r.analysis!.capture.period = period;
    r.analysis!.capture.periodRate = 41_250;
  };
  const r = resultOf({ faults: { 4242: { file: 5000 } }, comm: { 4242: 'reader' }, nodePerSec: 41_000 }, { edit: withPeriod(17) });

  it('the report says 1 in P sampled next to the confidence, above the counts and in the method', () => {
    const md = renderReport(r, { reportUrl: null });
    expect(md).toMatch(/^\*\*Verdict:\*\* .* · confidence \*\*high\*\* \(exact major-fault addresses\) · 1 in 17 sampled · /m);
    expect(md).toContain('| Tracer | perf major-faults (exact major-fault addresses), 1 in 17 sampled |');
    expect(md).toContain('5,000 samples of major faults captured, 1 in 17 sampled (about 85,000 faults)');
    expect(md).toContain('The counts below are samples; each stands for 17 faults.');
    expect(md).toContain('`perf record -e major-faults -c 17 -d`): the node made 41,250 major faults/s just before the capture');
  });

  it('the Slack message says it on the tracer line', () => {
    const texts = blockTexts(verdictMessage({ view: viewOf(r), result: r, reportUrl: null }, '/pagefault').blocks).mrkdwn.join('\n');
    expect(texts).toMatch(/Confidence \*high\* · perf major-faults, 1 in 17 sampled · \*41,000\* major faults\/s/);
  });

  it('nothing says sampled without a period', () => {
    const plain = resultOf({ faults: { 4242: { file: 5000 } }, comm: { 4242: 'reader' }, nodePerSec: 41_000 });
    expect(renderReport(plain, { reportUrl: null })).not.toContain('sampled');
    expect(blockTexts(verdictMessage({ view: viewOf(plain), result: plain, reportUrl: null }, '/pagefault').blocks).mrkdwn.join('\n')).not.toContain('sampled');
  });
});
