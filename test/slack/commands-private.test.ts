import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { Service } from '../../src/service.js';
import { SlackStandin } from '../support/slack-standin.js';
import { buildApp, recordingTriage, tempDir } from '../support/service.js';
import { commandForm, postSigned, slackTestConfig } from './helpers.js';

/**
 * What the slash command tells whom (SECURITY.md): the inventory is for the users allowed to use the bot, and
 * a store that cannot be written is a private, clear answer, not a bare HTTP error Slack shows as a failure.
 * No engine runs here (a recording triage stands in for it).
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const NODES = [
  { name: 'prod-db-1', local: true },
  { name: 'payments-api-7', local: true },
  { name: 'ledger-primary', local: true },
];

async function bot(slack: Record<string, unknown> = {}): Promise<{ app: FastifyInstance; service: Service }> {
  const standin = await SlackStandin.start();
  cleanups.push(() => standin.close());
  const dir = tempDir('pft-slack-private-');
  const config = slackTestConfig(dir.path, standin, { slack, base: { nodes: NODES } });
  const built = await buildApp(config, { triage: recordingTriage().triage });
  cleanups.push(dir.remove, () => built.app.close());
  return built;
}

describe('/pagefault help', () => {
  it('names no node to a user who is not in allowedUsers, and the inventory to one who is', async () => {
    const { app } = await bot({ allowedUsers: ['U0BOSS'] });
    for (const text of ['help', '']) {
      const res = await postSigned(app, '/slack/commands', commandForm(text, { user_id: 'U0MALLORY' }));
      expect(res.statusCode).toBe(200);
      const answer = res.json() as { response_type: string; text: string };
      expect(answer.response_type).toBe('ephemeral');
      expect(answer.text).toContain('finds who causes major page faults');
      for (const n of NODES) expect(answer.text, text).not.toContain(n.name);
      expect(answer.text).toContain('you are not one of them');
    }
    const boss = (await postSigned(app, '/slack/commands', commandForm('help', { user_id: 'U0BOSS' }))).json().text as string;
    for (const n of NODES) expect(boss).toContain(n.name);
    // The refusals a user who is not allowed can reach name no node either.
    for (const text of ['nodes', 'prod-db-1', 'no-such-node', 'last prod-db-1', 'prod-db-1 sample=0']) {
      const t = (await postSigned(app, '/slack/commands', commandForm(text, { user_id: 'U0MALLORY' }))).json().text as string;
      for (const n of NODES.slice(1)) expect(t, text).not.toContain(n.name);
    }
  });

  it('without allowedUsers, everyone is allowed and sees the nodes', async () => {
    const { app } = await bot();
    const t = (await postSigned(app, '/slack/commands', commandForm('help', { user_id: 'U0ANYONE' }))).json().text as string;
    for (const n of NODES) expect(t).toContain(n.name);
  });
});

describe('a slash command while the store cannot be written', () => {
  it('gets the private store_unavailable answer, not a bare HTTP 503', async () => {
    const { app, service } = await bot();
    const db = (service.store as unknown as { db: { pragma(s: string): unknown } }).db;
    db.pragma('query_only = ON'); // every write fails with SQLITE_READONLY, as on a full or read-only disk
    cleanups.push(() => void db.pragma('query_only = OFF'));
    const res = await postSigned(app, '/slack/commands', commandForm('prod-db-1'));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ response_type: 'ephemeral', text: expect.stringContaining('cannot record triages right now') });
    expect(res.json().text).toContain('store_unavailable');
    expect(await service.listTriages({ limit: 5 })).toEqual([]);
    db.pragma('query_only = OFF');
    expect((await postSigned(app, '/slack/commands', commandForm('prod-db-1'))).json().text).toContain('queued');
  });
});
