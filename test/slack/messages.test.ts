import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TriageResult } from '../../src/model/triage.js';
import { admissionAnswer, helpAnswer, lastAnswer, nodesAnswer, refusalAnswer, type AnswerContext } from '../../src/report/slack/answers.js';
import { resolvedMessage, startMessage, verdictMessage } from '../../src/report/slack/messages.js';
import { BLOCKS_MAX, HEADER_TEXT_MAX, MESSAGE_BUDGET_BYTES, SECTION_TEXT_MAX, cutText, type SlackMessage } from '../../src/report/slack/blocks.js';
import { blockTexts } from './helpers.js';
import { ID, REPORT_URL, alertTrigger, failedVerdict, quietVerdict, slackTrigger, swapResult, viewOf } from './fixtures.js';

const messageBytes = (m: SlackMessage): number => Buffer.byteLength(JSON.stringify(m), 'utf8');

const verdictOf = (result: TriageResult, over: Parameters<typeof viewOf>[1] = {}) =>
  verdictMessage({ view: viewOf(result, over), result, reportUrl: REPORT_URL }, '/pagefault');

const ctx: AnswerContext = { command: '/pagefault', nodes: ['node-1', 'node-2', 'local'], sampleSeconds: 5, captureSeconds: 5, restricted: true };

/** The `<…>` constructs templates write on purpose: report links, dates, mentions of the asker. */
const OWN_ANGLES = [/<https:\/\/triage\.example\/reports\/[\w-]+\|[^<>]*>/g, /<!date\^\d+\^\{date_short_pretty\} \{time\}\|[^<>]*>/g, /<@U0ALICE>/g];
const withoutOwnAngles = (s: string) => OWN_ANGLES.reduce((t, re) => t.replace(re, ''), s);

function allTexts(m: SlackMessage): string[] {
  const { mrkdwn, plain } = blockTexts(m.blocks);
  return [m.text, ...mrkdwn, ...plain];
}

describe('Slack messages (snapshots)', () => {
  it('start message for an alert', () => {
    expect(startMessage({ id: ID, node: 'node-7', trigger: alertTrigger, sampleSeconds: 5, captureSeconds: 5 }, '/pagefault')).toMatchSnapshot();
  });

  it('start message for a slash command', () => {
    expect(startMessage({ id: ID, node: 'node-7', trigger: slackTrigger, sampleSeconds: 10, captureSeconds: 3 }, '/pagefault')).toMatchSnapshot();
  });

  it('verdict: swap thrash (examples.md)', () => {
    const m = verdictOf(swapResult());
    expect(m).toMatchSnapshot();
    const { mrkdwn, plain } = blockTexts(m.blocks);
    expect(plain[0]).toBe(':rotating_light: node-7 — swap thrash in pid 4242 (java)');
    expect(mrkdwn[0]).toContain('Confidence *high* · perf major-faults · *1,312* major faults/s (alert threshold 500/s)');
    expect(mrkdwn[0]).toContain('pid 4242 `java` · unit `payments.service` · user `app` · 97% of faults in swap-backed memory (`[heap]` 81%)');
    expect(mrkdwn[0]).toContain('Swap-ins 1,290 pages/s · swap used 1.4 of 2.0 GiB · memory pressure (PSI full avg10) 31%');
    const actions = m.blocks.find((b) => b.type === 'actions');
    expect(actions).toMatchObject({
      elements: [
        { action_id: 'run_again', text: { text: 'Run again' }, value: JSON.stringify({ node: 'node-7', sampleSeconds: 5, captureSeconds: 5 }) },
        { action_id: 'open_report', text: { text: 'Open report' }, url: REPORT_URL },
      ],
    });
  });

  it('verdict: quiet, with notes', () => {
    const r = swapResult();
    r.verdict = { ...quietVerdict, notes: ['the perf capture lost 12 samples', 'pid 999 (cron) exited during the window'] };
    expect(verdictOf(r)).toMatchSnapshot();
  });

  it('verdict: failed, without evidence or report, asked from Slack', () => {
    const m = verdictMessage(
      {
        view: { id: ID, node: 'node-7', trigger: slackTrigger, status: 'failed', createdAt: '2026-11-27T03:27:32.000Z', startedAt: '2026-11-27T03:27:33.000Z', finishedAt: '2026-11-27T03:27:43.000Z', verdict: failedVerdict, reportUrl: null },
        result: null,
        reportUrl: null,
      },
      '/pagefault',
    );
    expect(m).toMatchSnapshot();
    expect(m.blocks.find((b) => b.type === 'actions')).toMatchObject({ elements: [{ action_id: 'run_again' }] });
  });

  it('resolved reply', () => {
    expect(resolvedMessage({ node: 'node-7', fingerprint: 'f', startsAt: '2026-11-27T03:12:00Z', cancelled: [], triage: { id: ID, status: 'running' }, alertname: 'NodeMemoryMajorPagesFaults', instance: '10.0.3.7:9100', endsAt: '2026-11-27T03:40:00Z' })).toMatchSnapshot();
  });

  it('slash command answers', () => {
    const done = viewOf(swapResult());
    expect({
      help: helpAnswer(ctx, true),
      nodes: nodesAnswer(ctx, [
        { name: 'node-1', local: false, last: done },
        { name: 'local', local: true, last: null },
      ]),
      last: lastAnswer(ctx, 'node-7', done, null),
      lastNone: lastAnswer(ctx, 'node-2', null, null),
      lastRunning: lastAnswer(ctx, 'node-7', done, { ...done, id: 'running-id-0000000000a', status: 'running' }),
      queued: admissionAnswer(ctx, { status: 'queued', id: ID, node: 'node-1' }, 'channel'),
      duplicate: admissionAnswer(ctx, { status: 'duplicate', id: ID, node: 'node-1' }, 'thread'),
      notAllowed: refusalAnswer(ctx, { kind: 'not_allowed' }),
      unknownNode: refusalAnswer(ctx, { kind: 'unknown_node', given: 'node-9' }),
      badArgument: refusalAnswer(ctx, { kind: 'bad_argument', given: 'sample=90', node: 'node-1', problem: 'sample takes whole seconds from 1 to 60' }),
    }).toMatchSnapshot();
  });
});

describe('Slack messages: nothing from a node or an alert can ping, link or format', () => {
  it('a process named `<!channel>*boom*` shows up escaped and in a code span', () => {
    const comm = '<!channel>*boom*';
    const r = swapResult(comm, { unit: '<@U0BOSS>_x_.service', label: '<http://evil|click> & ~strike~' });
    const m = verdictOf(r);
    for (const t of allTexts(m)) {
      expect(withoutOwnAngles(t)).not.toMatch(/[<>]/);
    }
    const { mrkdwn, plain } = blockTexts(m.blocks);
    expect(plain[0]).toBe(':rotating_light: node-7 — swap thrash in pid 4242 (&lt;!channel&gt;*boom*)');
    expect(mrkdwn[0]).toContain('pid 4242 `&lt;!channel&gt;*boom*` · unit `&lt;@U0BOSS&gt;_x_.service`');
    expect(mrkdwn[0]).toContain('(`&lt;http://evil|click&gt; &amp; ~strike~` 81%)');
  });

  it('an unknown node name typed in Slack is quoted escaped', () => {
    const text = refusalAnswer(ctx, { kind: 'unknown_node', given: '<!here> `x`' });
    expect(text).toContain('There is no node `&lt;!here&gt; ˋxˋ` in the inventory');
  });

  // The property: whatever the process name, path, unit or label, the only `<` left in any text are the
  // templates' own (links, dates, the asker's mention), and in mrkdwn the text only appears inside code spans.
  it('holds for arbitrary comm, path, unit, label and alert label strings (property)', () => {
    const text = fc.string({ unit: 'binary', maxLength: 60 });
    fc.assert(
      fc.property(text, text, text, text, text, (comm, unit, label, instance, path) => {
        const trigger = { ...alertTrigger, labels: { ...alertTrigger.labels, instance } };
        const r = swapResult(`¤${comm}¤`, { trigger, unit: `¤${unit}¤`, label: `¤${label}¤`, path });
        r.verdict.notes = [`pid 4242 (${comm}) exited`];
        const messages = [
          verdictOf(r),
          startMessage({ id: ID, node: 'node-7', trigger, sampleSeconds: 5, captureSeconds: 5 }, '/pagefault'),
          resolvedMessage({ node: 'node-7', fingerprint: 'f', startsAt: '2026-11-27T03:12:00Z', cancelled: [], triage: { id: ID, status: 'done' }, alertname: comm, instance, endsAt: '2026-11-27T03:40:00Z' }),
        ];
        for (const m of messages) {
          for (const t of allTexts(m)) {
            const rest = withoutOwnAngles(t);
            expect(rest).not.toMatch(/<[!@#]|<http/i);
            expect(rest).not.toMatch(/[<>]/);
          }
          // In mrkdwn, the markers around node text must sit inside a code span.
          for (const t of blockTexts(m.blocks).mrkdwn) {
            const outside = t.split('`').filter((_, i) => i % 2 === 0).join('');
            expect(outside).not.toMatch(/¤/);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('Slack limits', () => {
  it('keeps a worst-case verdict within the section, header, block and size limits', () => {
    const long = 'x'.repeat(5000);
    const r = swapResult(long, { unit: long, label: `/very/long/${long}`, path: long });
    r.verdict.summary = `swap thrash in pid 4242 (${long})`;
    r.verdict.notes = Array.from({ length: 20 }, (_, i) => `note ${i}: ${long}`);
    const m = verdictOf(r);
    expect(m.blocks.length).toBeLessThanOrEqual(BLOCKS_MAX);
    const header = m.blocks.find((b) => b.type === 'header');
    expect(header && header.type === 'header' && header.text.text.length).toBeLessThanOrEqual(HEADER_TEXT_MAX);
    for (const t of blockTexts(m.blocks).mrkdwn) expect(t.length).toBeLessThanOrEqual(SECTION_TEXT_MAX);
    expect(messageBytes(m)).toBeLessThan(MESSAGE_BUDGET_BYTES);
    expect(allTexts(m).join('\n')).toContain('…');
  });

  it('cuts text without breaking an entity, a link, a code span or a surrogate pair', () => {
    expect(cutText('abc &amp; def', 8)).toBe('abc …');
    expect(cutText('see <https://x.example/a|report> now', 20)).toBe('see …');
    expect(cutText('pid `javajavajava` ok', 12)).toBe('pid `javaj`…');
    expect(cutText('ab😀cd', 4)).toBe('ab…');
    expect(cutText('short', 10)).toBe('short');
  });
});

describe('verdict message: where in the file', () => {
  it('adds one line for a file verdict with hot regions, numbers only', () => {
    const result = swapResult('reader');
    result.verdict = { ...result.verdict, kind: 'mmap-read', summary: 'mmap reads of /data/<b> by pid 4242 (reader)', path: '/data/<b>' };
    const MiB = 1024 * 1024;
    result.analysis!.hotRegions = {
      path: '/data/<b>',
      faults: 1000,
      extentBytes: 1024 * MiB,
      bucketBytes: 16 * MiB,
      buckets: [820, ...new Array<number>(63).fill(3)],
      ranges: [{ start: 0, end: 64 * MiB, faults: 820, share: 0.82 }],
      hotShare: 0.82,
      hotBytes: 64 * MiB,
      hotRanges: 1,
    };
    const texts = allTexts(verdictOf(result)).join('\n');
    expect(texts).toContain('Where in the file: 82% of the faults in 64 MiB of the 1 GiB mapped (6%), at 0–64 MiB');
    // A swap verdict never shows it.
    expect(allTexts(verdictOf(swapResult())).join('\n')).not.toContain('Where in the file');
  });
});
