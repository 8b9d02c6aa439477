/**
 * The node's earlier triages in the report, in Slack and in GET /triages/:id, and the index of all triages
 * (GET /): three triages of one node, filters, pages, and the report token.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { ordinal } from '../../src/report/history.js';
import { verdictMessage } from '../../src/report/slack/messages.js';
import { renderReport } from '../../src/report/markdown.js';
import type { TriageOutcome } from '../../src/model/triage.js';
import type { Service, TriageFn } from '../../src/service.js';
import { blockTexts } from '../slack/helpers.js';
import { buildApp, fakeResult, tempDir, testConfig, verdictOf } from '../support/service.js';

const REPORT_TOKEN = 'report-token-0123456789abcdef';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An engine whose verdicts name the culprit the test chooses, one after the other. */
function scriptedEngine(culprits: { kind: 'mmap-read' | 'quiet'; pid?: number; comm?: string }[]): TriageFn {
  let i = 0;
  return async (_config, node, trigger) => {
    const c = culprits[Math.min(i++, culprits.length - 1)]!;
    if (c.kind === 'quiet') return fakeResult(node, trigger);
    const v = { ...verdictOf('mmap-read', `mmap reads of /block by pid ${c.pid} (${c.comm})`), pid: c.pid!, comm: c.comm! };
    return fakeResult(node, trigger, v);
  };
}

async function setUp(engine: TriageFn, server: Record<string, unknown> = {}): Promise<{ app: FastifyInstance; service: Service; outcomes: TriageOutcome[] }> {
  const dir = tempDir('pft-history-');
  const outcomes: TriageOutcome[] = [];
  const built = await buildApp(testConfig(dir.path, { server }), {
    triage: engine,
    render: renderReport,
    notifier: { triageStarted: async () => {}, triageFinished: async (o) => void outcomes.push(o), alertResolved: async () => {} },
  });
  cleanups.push(dir.remove, () => built.app.close());
  return { ...built, outcomes };
}

async function triageOnce(service: Service, node = 'node-1'): Promise<string> {
  const a = await service.requestTriage(node, { kind: 'cli' });
  await service.dispatcher.idle();
  return a.id;
}

describe("a node's earlier triages", () => {
  it('the third triage names the two before it, with links, in the report, in Slack and in the JSON', async () => {
    const { app, service, outcomes } = await setUp(
      scriptedEngine([
        { kind: 'mmap-read', pid: 4242, comm: 'reader' },
        { kind: 'mmap-read', pid: 4242, comm: 'reader' },
        { kind: 'mmap-read', pid: 4242, comm: 'reader' },
      ]),
    );
    const first = await triageOnce(service);
    const second = await triageOnce(service);
    const third = await triageOnce(service);

    const json = (await app.inject({ url: `/triages/${third}` })).json();
    expect(json.context.history.map((h: { id: string }) => h.id)).toEqual([second, first]);
    expect(json.context.history[0]).toEqual({ id: second, finishedAt: expect.any(String), kind: 'mmap-read', pid: 4242, comm: 'reader', path: '/block' });
    expect((await app.inject({ url: `/triages/${first}` })).json().context).toEqual({ history: [] });

    const md = (await app.inject({ url: `/reports/${third}.md` })).body;
    expect(md).toContain('## This node before');
    expect(md).toMatch(/3rd triage of node-1 in 24 h \(3 in 7 days\); the same process as at \[[^\]]+\]\(http\\?:\/\/127\.0\.0\.1:0\/reports\//);
    for (const id of [first, second]) expect(md).toContain(`/reports/${id})`);

    const slack = blockTexts(verdictMessage(outcomes[2]!, '/pagefault').blocks).mrkdwn.join('\n');
    expect(slack).toContain(':repeat: 3rd triage of node-1 in 24 h (3 in 7 days); the same process as <http://127.0.0.1:0/reports/');
    expect(slack).toContain(`/reports/${second}|last time>`);

    // The page links back to the index and to the node's previous triage.
    const page = (await app.inject({ url: `/reports/${third}` })).body;
    expect(page).toContain('<a href="../">All triages</a>');
    expect(page).toContain(`<a href="${second}">Previous triage of node-1</a>`);
  });

  it('says when last time it was another process, and a first triage says nothing', async () => {
    const { service, outcomes } = await setUp(
      scriptedEngine([
        { kind: 'mmap-read', pid: 77, comm: 'postgres' },
        { kind: 'mmap-read', pid: 4242, comm: 'reader' },
      ]),
    );
    const first = await triageOnce(service);
    await triageOnce(service);
    expect(blockTexts(verdictMessage(outcomes[0]!, '/pagefault').blocks).mrkdwn.join('\n')).not.toContain(':repeat:');
    const slack = blockTexts(verdictMessage(outcomes[1]!, '/pagefault').blocks).mrkdwn.join('\n');
    expect(slack).toContain(`2nd triage of node-1 in 24 h (2 in 7 days); <http://127.0.0.1:0/reports/${first}|last time> it was pid 77 \`postgres\``);
  });

  it('writes ordinals as English does', () => {
    expect([1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111].map(ordinal)).toEqual(['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd', '23rd', '101st', '111th']);
  });
});

describe('GET /: the index of triages', () => {
  it('lists every triage newest first, filters by node and by verdict, and pages', async () => {
    const engine = scriptedEngine([{ kind: 'mmap-read', pid: 1, comm: 'a' }, { kind: 'quiet' }]);
    const { app, service } = await setUp(engine);
    const reader = await triageOnce(service, 'node-1');
    const quiet = await triageOnce(service, 'node-1');
    const other = await triageOnce(service, 'node-2');

    const all = await app.inject({ url: '/' });
    expect(all.statusCode).toBe(200);
    expect(all.headers['content-type']).toContain('text/html');
    const order = [other, quiet, reader].map((id) => all.body.indexOf(`reports/${id}`));
    expect(order.every((at) => at > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(all.body).toContain('<span class="badge kind-mmap-read">mmap-read</span>');
    expect(all.body).toContain('name="viewport"');

    const byNode = (await app.inject({ url: '/?node=node-1' })).body;
    expect(byNode).toContain(`reports/${reader}`);
    expect(byNode).toContain(`reports/${quiet}`);
    expect(byNode).not.toContain(`reports/${other}`);

    const byKind = (await app.inject({ url: '/?kind=quiet' })).body;
    expect(byKind).toContain(`reports/${quiet}`);
    expect(byKind).toContain(`reports/${other}`);
    expect(byKind).not.toContain(`reports/${reader}`);

    expect((await app.inject({ url: '/?kind=nonsense' })).statusCode).toBe(400);

    // 52 more: the first page shows 50 and links to an older one, which shows the rest.
    for (let i = 0; i < 52; i++) await triageOnce(service, `node-${(i % 2) + 1}`);
    const page1 = (await app.inject({ url: '/' })).body;
    expect(page1.match(/<li>/g)).toHaveLength(50);
    expect(page1).toContain('<a href="?page=2">older →</a>');
    expect(page1).not.toContain('newer');
    const page2 = (await app.inject({ url: '/?page=2' })).body;
    expect(page2.match(/<li>/g)).toHaveLength(5);
    expect(page2).toContain('<a href="./">← newer</a>');
    expect(page2).toContain(`reports/${reader}`);
  });

  it('is for loopback clients without a report token, and needs the token with one', async () => {
    const open = await setUp(scriptedEngine([{ kind: 'quiet' }]));
    expect((await open.app.inject({ url: '/', remoteAddress: '127.0.0.1' })).statusCode).toBe(200);
    expect((await open.app.inject({ url: '/', remoteAddress: '10.9.8.7' })).statusCode).toBe(401);

    const closed = await setUp(scriptedEngine([{ kind: 'quiet' }]), { reportToken: REPORT_TOKEN });
    const id = await triageOnce(closed.service);
    const refused = await closed.app.inject({ url: '/', remoteAddress: '127.0.0.1' });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['www-authenticate']).toContain('Basic realm="pagefault-triage"');
    expect(refused.body).not.toContain(id);
    const basic = `Basic ${Buffer.from(`anyone:${REPORT_TOKEN}`).toString('base64')}`;
    const wrong = `Basic ${Buffer.from('anyone:not-the-token').toString('base64')}`;
    expect((await closed.app.inject({ url: '/', headers: { authorization: wrong } })).statusCode).toBe(401);
    const page = await closed.app.inject({ url: '/', headers: { authorization: basic } });
    expect(page.statusCode).toBe(200);
    // Links on the page are signed: a report opens from there without the token.
    const link = /href="(http:\/\/127\.0\.0\.1:0\/reports\/[^"]+)"/.exec(page.body)![1]!.replace(/&amp;/g, '&');
    expect((await closed.app.inject({ url: link.replace('http://127.0.0.1:0', '') })).statusCode).toBe(200);
    expect((await closed.app.inject({ url: '/', headers: { authorization: `Bearer ${REPORT_TOKEN}` } })).statusCode).toBe(200);
  });
});
