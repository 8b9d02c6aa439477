/**
 * The store's disk full or read-only (a tiny tmpfs mounted at storage.path): the service answers 503 with a
 * clear message, logs it, keeps serving, holds on to finished verdicts, and catches up once the disk is back.
 * Needs root (mount).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp, recordingTriage, testConfig, waitFor, webhook } from '../support/service.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A tmpfs of `sizeKb` at a fresh directory; unmounted and removed after the test. */
function tinyDisk(sizeKb: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'pft-store-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k,mode=0700`, 'tmpfs', dir]);
  cleanups.push(() => {
    try {
      execFileSync('umount', [dir]);
    } catch {
      execFileSync('umount', ['-l', dir]);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Fills the disk with a file; returns how to free it. */
function fill(dir: string): () => void {
  const file = join(dir, 'filler');
  const chunk = Buffer.alloc(64 * 1024, 1);
  let n = 0;
  try {
    for (;;) {
      writeFileSync(file, chunk, { flag: n === 0 ? 'w' : 'a' });
      n++;
    }
  } catch (err) {
    expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
  }
  return () => rmSync(file, { force: true });
}

function capturedLog() {
  const lines: { level: number; msg: string; err?: { message?: string } }[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

const post = (app: Awaited<ReturnType<typeof buildApp>>['app'], body: unknown) =>
  app.inject({ method: 'POST', url: '/alerts', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });

/** A webhook whose rows need more room than the store has left. */
const bigWebhook = (instance: string, tag: string) => webhook([{ labels: { instance, tag }, annotations: { description: tag.repeat(300_000 / tag.length) } }]);

describe('the store on a full or read-only disk', () => {
  it('disk full: 503 for webhooks, reads and health still answer, a finished verdict waits and is stored once there is room', async () => {
    const disk = tinyDisk(8192);
    const { log, lines } = capturedLog();
    const triage = recordingTriage({ manual: true });
    const { app, service } = await buildApp(testConfig(disk, { triage: { cooldownSeconds: 0 } }), {
      log,
      triage: triage.triage,
      render: (r) => `# ${r.node}\n\n${'evidence line\n'.repeat(40_000)}`, // ~500 kB to store at the end
    });
    cleanups.push(async () => {
      triage.release();
      await app.close();
    });

    const before = await post(app, webhook([{ labels: { instance: 'local' } }]));
    expect(before.statusCode).toBe(202);
    const running = before.json().triages[0].id as string;
    await waitFor('the triage to start', () => triage.running > 0);

    const free = fill(disk);
    const refused = await post(app, bigWebhook('node-1:9100', 'full'));
    expect(refused.statusCode).toBe(503);
    // Nothing of the refused webhook stays behind in memory either: Alertmanager sends it again.
    expect(service.dispatcher.queuedCount).toBe(0);
    expect(refused.headers['retry-after']).toBe('30');
    expect(refused.json()).toEqual({
      error: 'store unavailable',
      message: 'the bot cannot record alerts right now (its store is unreachable, full or read-only); Alertmanager will retry',
    });

    // The triage that was running finishes now: its verdict cannot be stored yet, and is not lost.
    triage.release();
    await waitFor('the store failure to be logged', () => lines.find((l) => /^cannot store the verdict/.test(l.msg)));
    expect((await service.getTriage(running))?.status).toBe('running');
    for (const url of ['/-/healthy', `/triages/${running}`, '/triages', '/metrics']) expect((await app.inject({ url })).statusCode, url).toBe(200);
    expect(service.dispatcher.isAccepting).toBe(true);

    // Room again: the verdict is stored within the retry interval, and webhooks are taken again.
    free();
    await waitFor('the verdict to be stored', async () => (await service.getTriage(running))?.status === 'done', 10_000);
    expect((await app.inject({ url: `/reports/${running}.md` })).statusCode).toBe(200);
    expect(lines.some((l) => l.msg === 'the store is writable again: triage stored')).toBe(true);
    const after = await post(app, bigWebhook('node-1:9100', 'room'));
    expect(after.statusCode).toBe(202);
    triage.release();
    await waitFor('the next triage', async () => {
      triage.release();
      return service.dispatcher.queuedCount + service.dispatcher.runningCount === 0;
    });
  });

  it('read-only at start: the bot refuses to start with a clear error, and starts on the same store once it is writable', async () => {
    const disk = tinyDisk(8192);
    const config = testConfig(disk);
    const first = await buildApp(config, { triage: recordingTriage().triage });
    const { id } = await first.service.requestTriage('node-1', { kind: 'cli' });
    await first.service.dispatcher.idle();
    await first.app.close();
    execFileSync('mount', ['-o', 'remount,ro', disk]);
    cleanups.push(() => void execFileSync('mount', ['-o', 'remount,rw', disk]));
    await expect(buildApp(config, { triage: recordingTriage().triage })).rejects.toMatchObject({
      code: 'store_unavailable',
      message: expect.stringMatching(new RegExp(`^cannot open the store ${disk}/triages\\.sqlite: `)),
    });
    execFileSync('mount', ['-o', 'remount,rw', disk]);
    const again = await buildApp(config, { triage: recordingTriage().triage });
    cleanups.push(() => again.app.close());
    expect((await again.service.getTriage(id))?.status).toBe('done');
  });

  it('read-only while running: 503 with a clear message on every write path, no crash, and back to normal after', async () => {
    // The kernel will not remount a filesystem read-only under open writers, so the store's own connection is
    // made read-only (SQLite then fails every write with SQLITE_READONLY, as on a read-only disk).
    const disk = tinyDisk(8192);
    const { log, lines } = capturedLog();
    const triage = recordingTriage({ manual: true });
    const { app, service } = await buildApp(testConfig(disk, { triage: { cooldownSeconds: 0 } }), { log, triage: triage.triage, pruneEveryMs: 100 });
    const db = (service.store as unknown as { db: { pragma(s: string): unknown } }).db;
    cleanups.push(async () => {
      triage.release();
      db.pragma('query_only = OFF');
      await app.close();
    });
    const first = (await service.requestTriage('node-1', { kind: 'cli' })).id;
    await waitFor('the triage to start', () => triage.running > 0);

    db.pragma('query_only = ON');
    const res = await post(app, webhook([{ labels: { instance: 'local' } }]));
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toBe('store unavailable');
    // A manual request (Slack, CLI) gets the same clear error rather than a crash.
    await expect(service.requestTriage('node-2', { kind: 'cli' })).rejects.toThrow(expect.objectContaining({ code: 'store_unavailable' }));
    triage.release();
    await waitFor('the store failure to be logged', () => lines.find((l) => /^cannot store the verdict/.test(l.msg)));
    await new Promise((r) => setTimeout(r, 300)); // a few retention runs fail on the read-only store, and are logged
    expect(lines.some((l) => l.msg === 'retention cleanup failed; trying again at the next run')).toBe(true);
    expect((await app.inject({ url: '/-/healthy' })).statusCode).toBe(200);
    expect((await app.inject({ url: `/triages/${first}` })).json().status).toBe('running');

    db.pragma('query_only = OFF');
    await waitFor('the verdict to be stored', async () => (await service.getTriage(first))?.status === 'done', 10_000);
    const ok = await post(app, webhook([{ labels: { instance: 'local' } }]));
    expect(ok.statusCode).toBe(202);
    await waitFor('the triage', async () => {
      triage.release();
      return (await service.getTriage(ok.json().triages[0].id))?.status === 'done';
    });
  });

  it('a triage that cannot be marked running waits in the queue and starts once the store takes writes', async () => {
    const disk = tinyDisk(4096);
    const { log, lines } = capturedLog();
    const { app, service } = await buildApp(testConfig(disk), { log, triage: recordingTriage().triage });
    cleanups.push(() => app.close());
    const store = service.store;
    const claimNext = store.claimNext.bind(store);
    store.claimNext = () => {
      throw Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY', name: 'SqliteError' });
    };
    const { id } = await service.requestTriage('node-1', { kind: 'cli' });
    await waitFor('the failure to be logged', () => lines.find((l) => l.msg === 'cannot take triages from the queue: the store is unavailable; retrying'));
    expect((await service.getTriage(id))?.status).toBe('queued');
    expect(service.dispatcher.queuedCount).toBe(1);
    store.claimNext = claimNext;
    await waitFor('the triage to run', async () => (await service.getTriage(id))?.status === 'done', 10_000);
  });
});
