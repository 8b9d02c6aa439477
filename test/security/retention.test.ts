/**
 * Retention (storage.retentionDays): a scheduled cleanup deletes finished triages older than the retention,
 * with their reports and evidence, and keeps recent ones and anything unfinished. The clock is injected.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp, recordingTriage, tempDir, testConfig, waitFor } from '../support/service.js';

const DAY = 86400 * 1000;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('retention', () => {
  it('removes old triages and their reports on schedule, and keeps recent and unfinished ones', async () => {
    const dir = tempDir('pft-retention-');
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const triage = recordingTriage({ manual: true });
    const config = testConfig(dir.path, { triage: { cooldownSeconds: 0 } });
    (config.storage as { retentionDays: number }).retentionDays = 30;
    const { app, service } = await buildApp(config, { triage: triage.triage, now: () => new Date(clock), pruneEveryMs: 50 });
    cleanups.push(dir.remove, async () => {
      triage.release();
      await app.close();
    });
    const run = async (node: string): Promise<string> => {
      const { id } = await service.requestTriage(node, { kind: 'cli' });
      await waitFor('the triage to start', () => triage.running > 0);
      triage.release();
      await service.dispatcher.idle();
      return id;
    };

    // Day 0: two triages. Day 25: one more. Day 29: one left queued behind a running one.
    const old1 = await run('node-1');
    const old2 = await run('node-2');
    clock += 25 * DAY;
    const recent = await run('node-1');
    clock += 4 * DAY;
    const stuck = (await service.requestTriage('node-2', { kind: 'cli' })).id; // starts and waits for release
    await waitFor('the triage to start', () => triage.running > 0);
    const queued = await service.requestTriage('node-2', { kind: 'cli' }); // the node is busy: this one is its answer
    expect(queued).toMatchObject({ status: 'duplicate', id: stuck });
    for (const id of [old1, old2, recent]) expect((await app.inject({ url: `/reports/${id}.md` })).statusCode).toBe(200);

    // Day 31: the next scheduled run removes the day-0 triages, reports included.
    clock += 2 * DAY;
    await waitFor('the cleanup to run', async () => (await service.getTriage(old1)) === undefined, 2000);
    for (const id of [old1, old2]) {
      expect(await service.getTriage(id)).toBeUndefined();
      expect(await service.getReport(id)).toBeUndefined();
      expect(await service.store.result(id)).toBeUndefined();
      expect((await app.inject({ url: `/reports/${id}` })).statusCode).toBe(404);
      expect((await app.inject({ url: `/triages/${id}` })).statusCode).toBe(404);
    }
    expect((await service.getTriage(recent))?.status).toBe('done');
    expect((await app.inject({ url: `/reports/${recent}.md` })).statusCode).toBe(200);

    // Day 90: the running triage is older than the retention but unfinished, so it stays.
    clock += 60 * DAY;
    await waitFor('the cleanup to run', async () => (await service.getTriage(recent)) === undefined, 2000);
    expect((await service.getTriage(stuck))?.status).toBe('running');
    triage.release();
    await service.dispatcher.idle();
    expect((await service.getTriage(stuck))?.status).toBe('done');
    // …and goes at the next run once it is finished and old.
    await waitFor('the cleanup to run', async () => (await service.getTriage(stuck)) === undefined, 2000);
    expect(await service.listTriages({ limit: 10 })).toEqual([]);
  });

  it('deletes at start what expired while the bot was down', async () => {
    const dir = tempDir('pft-retention-');
    cleanups.push(dir.remove);
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const config = testConfig(dir.path);
    const first = await buildApp(config, { now: () => new Date(clock) });
    const { id } = await first.service.requestTriage('local', { kind: 'cli' });
    await first.service.dispatcher.idle();
    await first.app.close();
    clock += 31 * DAY;
    const second = await buildApp(config, { now: () => new Date(clock) });
    cleanups.push(() => second.app.close());
    expect(await second.service.getTriage(id)).toBeUndefined();
  });
});
