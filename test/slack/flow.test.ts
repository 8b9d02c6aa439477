import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { renderReport } from '../../src/report/markdown.js';
import type { Service, ServiceDeps } from '../../src/service.js';
import { SlackStandin } from '../support/slack-standin.js';
import { buildApp, recordingTriage, tempDir, waitFor, webhook } from '../support/service.js';
import { CHANNEL, blockTexts, buttonForm, commandForm, postSigned, slackTestConfig } from './helpers.js';

/**
 * Slack end to end through the real app: alerts, the slash command and the Run again button, against
 * the Slack stand-in. The first test runs the real engine on the `local` node.
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Bot {
  app: FastifyInstance;
  service: Service;
  standin: SlackStandin;
  config: Config;
}

async function bot(opts: { slack?: Record<string, unknown>; deps?: ServiceDeps; standin?: SlackStandin } = {}): Promise<Bot> {
  const standin = opts.standin ?? (await SlackStandin.start());
  if (!opts.standin) cleanups.push(() => standin.close());
  const dir = tempDir('pft-slack-');
  const config = slackTestConfig(dir.path, standin, { slack: opts.slack ?? {} });
  const built = await buildApp(config, opts.deps ?? { triage: recordingTriage().triage });
  cleanups.push(dir.remove, () => built.app.close());
  return { ...built, standin, config };
}

const postAlert = (app: FastifyInstance, alerts: Parameters<typeof webhook>[0]) =>
  app.inject({ method: 'POST', url: '/alerts', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(webhook(alerts)) });

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, checked by the assertions
const getTriage = async (app: FastifyInstance, id: string): Promise<any> => (await app.inject({ url: `/triages/${id}` })).json();

const metric = async (app: FastifyInstance, line: string): Promise<number> => {
  const text = (await app.inject({ url: '/metrics' })).body;
  const m = new RegExp(`^${line.replace(/[{}"().]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`metric line ${line} not found`);
  return Number(m[1]);
};

describe('an alert in Slack', () => {
  it('posts "started", then updates that same message with the verdict blocks; a resolve replies in its thread (real engine on local)', async () => {
    const { app, service, standin } = await bot({ deps: { render: renderReport } });
    const res = await postAlert(app, [{ labels: { instance: 'local' } }]);
    expect(res.statusCode).toBe(202);
    const id: string = res.json().triages[0].id;

    const start = await standin.waitFor('the start message', () => standin.okCalls('chat.postMessage')[0]);
    expect(start.args.channel).toBe(CHANNEL);
    expect(blockTexts(start.args.blocks as unknown[]).mrkdwn[0]).toMatch(/^:hourglass_flowing_sand: \*Triage of local started\* for `NodeMemoryMajorPagesFaults` on `local`/);
    const ts = (start.response as { ts: string }).ts;

    await service.dispatcher.idle();
    const update = await standin.waitFor('the verdict update', () => standin.okCalls('chat.update')[0], 30_000);
    const triage = await getTriage(app, id);
    expect(triage.status).toBe('done');
    expect(update.args).toMatchObject({ channel: CHANNEL, ts });
    const blocks = update.args.blocks as { type: string; elements?: { action_id: string; url?: string; value?: string }[] }[];
    expect(blocks.map((b) => b.type)).toEqual(expect.arrayContaining(['header', 'section', 'actions', 'context']));
    const { plain, mrkdwn } = blockTexts(blocks);
    // The header names the node whatever the verdict (a quiet machine can also give `inconclusive`).
    expect(plain[0]).toMatch(/\blocal\b/);
    expect(mrkdwn.join('\n')).toContain(`<${triage.reportUrl}|full report>`);
    const buttons = blocks.find((b) => b.type === 'actions')!.elements!;
    expect(buttons.map((b) => b.action_id)).toEqual(['run_again', 'open_report']);
    expect(buttons[1]!.url).toBe(triage.reportUrl);
    expect(JSON.parse(buttons[0]!.value!)).toEqual({ node: 'local', sampleSeconds: 1, captureSeconds: 1 });
    expect(update.args.text).toContain(triage.verdict.summary);

    // One message in Slack, updated once; the triage says it got there.
    expect([...standin.messages.values()]).toHaveLength(1);
    expect(standin.messages.get(`${CHANNEL}/${ts}`)!.updates).toBe(1);
    await waitFor('the triage marked sent', async () => (await getTriage(app, id)).notify?.slack.state === 'sent');
    expect((await getTriage(app, id)).notify).toEqual({ slack: { state: 'sent', error: null } });
    expect(await metric(app, 'pagefault_triage_slack_calls_total{method="chat.postMessage",outcome="ok"}')).toBe(1);
    expect(await metric(app, 'pagefault_triage_slack_calls_total{method="chat.update",outcome="ok"}')).toBe(1);

    // The alert resolves: a reply in the message's thread, once even if Alertmanager sends it twice.
    for (let i = 0; i < 2; i++) expect((await postAlert(app, [{ labels: { instance: 'local' }, status: 'resolved' }])).statusCode).toBe(202);
    const reply = await standin.waitFor('the resolved reply', () => standin.okCalls('chat.postMessage')[1]);
    expect(reply.args).toMatchObject({ channel: CHANNEL, thread_ts: ts });
    expect(blockTexts(reply.args.blocks as unknown[]).mrkdwn[0]).toContain('`NodeMemoryMajorPagesFaults` on `local` resolved');
    await new Promise((r) => setTimeout(r, 200));
    expect(standin.okCalls('chat.postMessage')).toHaveLength(2);
  });

  it('shows a process named `<!channel>*x*` escaped, in a code span (through the whole pipeline)', async () => {
    const triage = recordingTriage();
    const evil = '<!channel>*x*';
    const { app, service, standin } = await bot({
      deps: {
        triage: async (config, node, trigger, options) => {
          const r = await triage.triage(config, node, trigger, options);
          return { ...r, verdict: { ...r.verdict, kind: 'swap-thrash', summary: `swap thrash in pid 7 (${evil})`, pid: 7, comm: evil, confidence: 'low', tracer: 'none', faultsPerSec: 900 } };
        },
      },
    });
    await postAlert(app, [{ labels: { instance: 'local' }, annotations: { summary: '<!here> look' } }]);
    await service.dispatcher.idle();
    const update = await standin.waitFor('the verdict update', () => standin.okCalls('chat.update')[0]);
    const { plain, mrkdwn } = blockTexts(update.args.blocks as unknown[]);
    const all = [update.args.text as string, ...plain, ...mrkdwn].join('\n');
    expect(all).not.toContain('<!channel>');
    expect(all).not.toContain('<!here>');
    expect(plain[0]).toBe(':rotating_light: local — swap thrash in pid 7 (&lt;!channel&gt;*x*)');
    expect(mrkdwn[0]).toContain('pid 7 `&lt;!channel&gt;*x*`');
  });
});

describe('the slash command', () => {
  it('runs a triage of a known node and posts it in the channel it was asked from', async () => {
    const { app, service, standin } = await bot();
    const res = await postSigned(app, '/slack/commands', commandForm('node-1 sample=2 capture=3'));
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.response_type).toBe('ephemeral');
    expect(body.text).toMatch(/^:hourglass_flowing_sand: Triage of \*node-1\* queued \(id `[\w-]{22}`\)\. It will be posted in this channel \(if I am not a member yet, `\/invite` me, or I cannot post here\)\.$/);
    const [t] = await service.listTriages({ limit: 5 });
    expect(t).toMatchObject({ node: 'node-1', trigger: { kind: 'slack', user: 'U0ALICE', channel: 'C0ONCALL' } });
    expect((await service.store.get(t!.id))!.options).toEqual({ sampleSeconds: 2, captureSeconds: 3 });

    await service.dispatcher.idle();
    const update = await standin.waitFor('the verdict', () => standin.okCalls('chat.update')[0]);
    const post = standin.okCalls('chat.postMessage')[0]!;
    expect(post.args.channel).toBe('C0ONCALL');
    expect(blockTexts(post.args.blocks as unknown[]).mrkdwn[0]).toContain('requested by <@U0ALICE> with `/pagefault`');
    expect(blockTexts(post.args.blocks as unknown[]).mrkdwn[0]).toContain('Ranking processes for 2 s, then recording faults for 3 s');
    expect(update.args).toMatchObject({ channel: 'C0ONCALL', ts: (post.response as { ts: string }).ts });
    expect(await metric(app, 'pagefault_triage_slack_requests_total{route="commands",outcome="accepted"}')).toBe(1);
  });

  it.each([
    ['a bad signature', { signature: `v0=${'0'.repeat(64)}` }],
    ['another signing secret', { secret: 'not-the-signing-secret' }],
    ['a timestamp 6 minutes old', { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 }],
    ['a timestamp 6 minutes ahead', { timestamp: Math.floor(Date.now() / 1000) + 6 * 60 }],
  ])('answers 401 to %s, and nothing runs', async (_what, opts) => {
    const { app, service, standin } = await bot();
    const res = await postSigned(app, '/slack/commands', commandForm('node-1'), opts);
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: 'unauthorized', message: 'not a valid Slack request' });
    expect(await service.listTriages({ limit: 5 })).toEqual([]);
    const button = await postSigned(app, '/slack/interactions', buttonForm({ value: '{"node":"node-1"}', ts: '1.1', responseUrl: standin.responseUrl() }), opts);
    expect(button.statusCode).toBe(401);
    await new Promise((r) => setTimeout(r, 100));
    expect(await service.listTriages({ limit: 5 })).toEqual([]);
    expect(standin.calls).toEqual([]);
    expect(standin.responses).toEqual([]);
    expect(await metric(app, 'pagefault_triage_slack_requests_total{route="commands",outcome="unauthorized"}')).toBe(1);
  });

  it('answers 401 without the signature headers, before reading the body', async () => {
    const { app } = await bot();
    const res = await app.inject({ method: 'POST', url: '/slack/commands', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'text=node-1&user_id=U1' });
    expect(res.statusCode).toBe(401);
  });

  it('refuses a user who is not in allowedUsers, ephemerally', async () => {
    const { app, service } = await bot({ slack: { allowedUsers: ['U0BOSS'] } });
    const res = await postSigned(app, '/slack/commands', commandForm('node-1'));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ response_type: 'ephemeral', text: expect.stringContaining('You are not allowed to run triages from Slack') });
    expect(await service.listTriages({ limit: 5 })).toEqual([]);
    // …and the allowed user may.
    const ok = await postSigned(app, '/slack/commands', commandForm('node-1', { user_id: 'U0BOSS' }));
    expect(ok.json().text).toContain('queued');
  });

  it('answers an unknown node with the nodes that exist', async () => {
    const { app, service } = await bot();
    const res = await postSigned(app, '/slack/commands', commandForm('node-9'));
    expect(res.json()).toEqual({
      response_type: 'ephemeral',
      text: 'There is no node `node-9` in the inventory. Nodes: `local`, `node-1`, `node-2`. For example: `/pagefault local`.',
    });
    expect(await service.listTriages({ limit: 5 })).toEqual([]);
  });

  it('answers bad arguments with what would work', async () => {
    const { app, service } = await bot();
    const res = await postSigned(app, '/slack/commands', commandForm('node-1 sample=600'));
    expect(res.json().text).toBe('`sample=600` does not work: sample takes whole seconds from 1 to 60. For example: `/pagefault node-1 sample=5 capture=5` (whole seconds from 1 to 60).');
    expect(await service.listTriages({ limit: 5 })).toEqual([]);
  });

  it('answers help, nodes, last and ssl_check', async () => {
    const { app, service, standin } = await bot();
    expect((await postSigned(app, '/slack/commands', { ssl_check: '1', token: 'x' })).statusCode).toBe(200);
    expect((await postSigned(app, '/slack/commands', commandForm(''))).json().text).toContain('*/pagefault* finds who causes major page faults');
    expect((await postSigned(app, '/slack/commands', commandForm('last node-2'))).json().text).toBe('*node-2* has no verdict yet. Start a triage with `/pagefault node-2`.');
    await postSigned(app, '/slack/commands', commandForm('node-2'));
    await service.dispatcher.idle();
    await standin.waitFor('the verdict', () => standin.okCalls('chat.update')[0]);
    const last = (await postSigned(app, '/slack/commands', commandForm('last node-2'))).json().text as string;
    expect(last).toMatch(/^\*node-2\*, <!date\^\d+\^\{date_short_pretty\} \{time\}\|[^>]+>: `no major faults on node-2 during the 1 s window` · confidence \*high\* · <http:\/\/127\.0\.0\.1:0\/reports\/[\w-]+(\?[^|]*)?\|full report> · id `[\w-]{22}`$/);
    const nodes = (await postSigned(app, '/slack/commands', commandForm('nodes'))).json().text as string;
    expect(nodes).toContain('*3 nodes* in the inventory:');
    expect(nodes).toContain('• `node-2` (this machine): last `no major faults on node-2 during the 1 s window` (<!date^');
    expect(nodes).toContain('• `local` (this machine): never triaged');
  });
});

describe('the Run again button', () => {
  it('starts a new triage of the node, posted in the thread of the message it was pressed on', async () => {
    const { app, service, standin } = await bot();
    await postAlert(app, [{ labels: { instance: 'node-1:9100' } }]);
    await service.dispatcher.idle();
    const first = await standin.waitFor('the first verdict', () => standin.okCalls('chat.update')[0]);
    const parentTs = first.args.ts as string;
    const value = ((first.args.blocks as { type: string; elements?: { value?: string }[] }[]).find((b) => b.type === 'actions')!.elements![0]!.value)!;

    const res = await postSigned(app, '/slack/interactions', buttonForm({ value, ts: parentTs, responseUrl: standin.responseUrl() }));
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('');
    const [again] = await service.listTriages({ limit: 1 });
    expect(again).toMatchObject({ node: 'node-1', trigger: { kind: 'button', user: 'U0ALICE', channel: CHANNEL, threadTs: parentTs } });
    await service.dispatcher.idle();
    const update = await standin.waitFor('the second verdict', () => standin.okCalls('chat.update')[1]);
    const post = standin.okCalls('chat.postMessage')[1]!;
    expect(post.args).toMatchObject({ channel: CHANNEL, thread_ts: parentTs });
    expect(update.args.ts).toBe((post.response as { ts: string }).ts);
    expect(blockTexts(update.args.blocks as unknown[]).mrkdwn.at(-1)).toContain('Requested by <@U0ALICE> with "Run again"');

    // Pressed again on the reply in the thread: still that thread.
    await postSigned(app, '/slack/interactions', buttonForm({ value, ts: update.args.ts as string, threadTs: parentTs, responseUrl: standin.responseUrl() }));
    await service.dispatcher.idle();
    const third = await standin.waitFor('the third start', () => standin.okCalls('chat.postMessage')[2]);
    expect(third.args.thread_ts).toBe(parentTs);
    expect(standin.responses).toEqual([]);
  });

  it('tells a user who is not allowed, privately, and runs nothing; Open report only needs the acknowledgement', async () => {
    const { app, service, standin } = await bot({ slack: { allowedUsers: ['U0BOSS'] } });
    const res = await postSigned(app, '/slack/interactions', buttonForm({ value: '{"node":"node-1"}', ts: '1764212001.000001', responseUrl: standin.responseUrl('deny') }));
    expect(res.statusCode).toBe(200);
    const answer = await standin.waitFor('the ephemeral answer', () => standin.responses[0]);
    expect(answer.url).toBe(standin.responseUrl('deny'));
    expect(answer.body).toMatchObject({ response_type: 'ephemeral', replace_original: false, text: expect.stringContaining('You are not allowed to run triages') });
    expect(await service.listTriages({ limit: 5 })).toEqual([]);

    const open = await postSigned(app, '/slack/interactions', buttonForm({ value: '', actionId: 'open_report', ts: '1.1', responseUrl: standin.responseUrl() }));
    expect(open.statusCode).toBe(200);
    expect(await service.listTriages({ limit: 5 })).toEqual([]);
  });

  it('never posts to a response_url outside Slack', async () => {
    const { app, service, standin } = await bot({ slack: { allowedUsers: ['U0BOSS'] } });
    await postSigned(app, '/slack/interactions', buttonForm({ value: '{"node":"node-1"}', ts: '1.1', responseUrl: 'http://169.254.169.254/latest' }));
    await new Promise((r) => setTimeout(r, 100));
    expect(await service.store.outbox.pendingCount()).toBe(0);
    expect(standin.responses).toEqual([]);
  });
});
