import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { startAlertmanager, type Alertmanager } from '../support/alertmanager.js';
import { startFileReader } from '../support/generators.js';
import { tempDir, waitFor } from '../support/service.js';

/**
 * The whole path, all real: Debian's Alertmanager on loopback delivers NodeMemoryMajorPagesFaults
 * (added with amtool) to the bot with its bearer token; the bot triages the `local` node with the
 * real engine while a real file-mapped reader major-faults, and the verdict names the reader.
 */

const TOKEN = 'e2e-token-0123456789abcdef';

let bot: RunningServer;
let am: Alertmanager;
let reader: Awaited<ReturnType<typeof startFileReader>>;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  reader = await startFileReader({ sizeMb: 64 });
  cleanups.push(() => reader.stop());
  const dir = tempDir('pft-e2e-');
  cleanups.push(dir.remove);
  const config = configSchema.parse({
    server: { host: '127.0.0.1', port: 0, webhookToken: TOKEN },
    storage: { path: dir.path },
    playbook: { sampleSeconds: 2, captureSeconds: 2 },
    nodes: [{ name: 'local', local: true, match: [{ instance: 'local' }, { instance: 'localhost:9100' }] }],
  });
  // No injected engine: the service loads the real triageNode and renderReport.
  bot = await startServer(config, { logger: { level: 'warn' }, handleSignals: false });
  cleanups.push(() => bot.close());
  am = await startAlertmanager({ webhookUrl: `${bot.url}/alerts`, token: TOKEN });
  cleanups.push(() => am.stop());
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface TriageJson {
  id: string;
  node: string;
  status: string;
  trigger: { kind: string; alertname?: string; fingerprint?: string; labels?: Record<string, string> };
  verdict: { kind: string; pid: number | null; comm: string | null; path: string | null; summary: string; confidence: string | null } | null;
  reportUrl: string | null;
}

const getJson = async <T>(url: string): Promise<T> => (await fetch(url)).json() as Promise<T>;

describe('a real Alertmanager delivers NodeMemoryMajorPagesFaults', () => {
  it('the bot triages the node and GET /triages/:id reaches done with the verdict naming the reader', async () => {
    await am.addAlert('NodeMemoryMajorPagesFaults', { instance: 'local', job: 'node', severity: 'warning' }, {
      annotations: { summary: 'Memory major page faults are occurring at very high rate.' },
    });

    const listed = await waitFor(
      'Alertmanager to deliver the alert and a triage to be queued',
      async () => (await getJson<{ triages: TriageJson[] }>(`${bot.url}/triages?node=local`)).triages[0],
      30_000,
      200,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nAlertmanager log:\n${am.log()}`);
    });
    expect(listed.trigger).toMatchObject({ kind: 'alert', alertname: 'NodeMemoryMajorPagesFaults', labels: { instance: 'local', job: 'node', severity: 'warning' } });

    const done = await waitFor(
      'the triage to finish',
      async () => {
        const t = await getJson<TriageJson>(`${bot.url}/triages/${listed.id}`);
        return (t.status === 'done' || t.status === 'failed') && t;
      },
      90_000,
      250,
    );
    expect(done.status, `verdict: ${JSON.stringify(done.verdict)}`).toBe('done');
    expect(done.verdict, JSON.stringify(done.verdict)).toMatchObject({ kind: 'mmap-read', pid: reader.pid, comm: reader.comm, path: reader.path });

    const page = await fetch(done.reportUrl!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain(`pid ${reader.pid}`);
    const md = await (await fetch(`${done.reportUrl}.md`)).text();
    expect(md).toMatch(/^# local: mmap reads of /);

    const metrics = await (await fetch(`${bot.url}/metrics`)).text();
    expect(metrics).toMatch(/^pagefault_triage_webhooks_received_total\{outcome="accepted"\} [1-9]/m);
    expect(metrics).toMatch(/^pagefault_triage_webhooks_received_total\{outcome="unauthorized"\} 0$/m);
    expect(metrics).toMatch(/^pagefault_triage_triages_total\{trigger="alert",verdict="mmap-read"\} 1$/m);
  });

  it('the resolved notification reaches the bot too, and no second triage starts', async () => {
    await am.addAlert('NodeMemoryMajorPagesFaults', { instance: 'local', job: 'node', severity: 'warning' }, { end: new Date(Date.now() - 1000) });
    await waitFor(
      'the resolved notification',
      async () => /^pagefault_triage_alerts_received_total\{outcome="resolved"\} [1-9]/m.test(await (await fetch(`${bot.url}/metrics`)).text()),
      30_000,
      200,
    );
    const all = await getJson<{ triages: TriageJson[] }>(`${bot.url}/triages`);
    expect(all.triages).toHaveLength(1);
  });
});
