import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import type { BotProcess } from '../support/bot-process.js';
import { startFileReader } from '../support/generators.js';
import { postAlerts, replicaConfig, startReplicas, stopReplicas, triagesOf, type TriageJson } from '../support/replicas.js';
import { replicaTestFile } from '../support/replica-tests.js';
import { waitFor, webhook } from '../support/service.js';
import { SlackStandin } from '../support/slack-standin.js';
import { CHANNEL, SIGNING_SECRET } from '../slack/helpers.js';

/**
 * Two replicas with the real engine on node `local` while a real file-mapped reader major-faults: duplicates sent
 * to both give one triage with the right verdict, and a replica SIGKILLed in the middle of the capture has its
 * triage finished by the other, leaving no tracer and no temporary directory behind on the node.
 */

const { database, bots, cleanups } = replicaTestFile('takeover');

const SAMPLE = 3;
const CAPTURE = 3;
const LEASE = 3;

const config = async (extra: Record<string, unknown> = {}) =>
  replicaConfig(await database(), {
    playbook: { sampleSeconds: SAMPLE, captureSeconds: CAPTURE },
    triage: { leaseSeconds: LEASE },
    nodes: [{ name: 'local', local: true, match: [{ instance: 'local' }, { instance: 'localhost:9100' }] }],
    ...extra,
  });

async function reader() {
  const r = await startFileReader({ sizeMb: 64 });
  cleanups.push(() => r.stop());
  return r;
}

/** The playbook's temporary directories (`pft.XXXXXX`) under the temp dir. */
const playbookDirs = () => new Set(readdirSync(tmpdir()).filter((f) => /^pft\.[A-Za-z0-9]{6}$/.test(f)));
/** perf processes running now. */
function perfs(): string[] {
  try {
    return execFileSync('pgrep', ['-a', '-x', 'perf'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

const finished = (t: TriageJson) => t.status === 'done' || t.status === 'failed';

describe('replicas with the real engine on node local', () => {
  it('the same notification sent 5 times to each of two replicas at once: one triage, the right verdict, one start message and one update', async () => {
    const file = await reader();
    const slack = await SlackStandin.start();
    cleanups.push(() => slack.close());
    const cfg = await config({ slack: { token: slack.token, signingSecret: SIGNING_SECRET, channel: CHANNEL, apiUrl: slack.apiUrl, requestTimeoutSeconds: 2, retry: { initialSeconds: 0.05, maxSeconds: 0.2 } } });
    const [a, b] = await startReplicas(2, cfg, { engine: 'real' });
    bots.push(a!, b!);
    const body = webhook([{ labels: { instance: 'local' } }]);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => postAlerts(i % 2 === 0 ? a! : b!, body)));
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(202));
    const ids = new Set(answers.flatMap((r) => (r.json as { triages: { id: string }[] }).triages.map((t) => t.id)));
    expect(ids.size).toBe(1);
    const all = await waitFor('the triage to finish', async () => {
      const ts = await triagesOf(b!);
      return ts.length > 0 && ts.every(finished) && ts;
    }, 60_000, 250);
    expect(all).toHaveLength(1);
    expect(all[0]!.status, JSON.stringify(all[0]!.verdict)).toBe('done');
    expect(all[0]!.verdict).toMatchObject({ kind: 'mmap-read', pid: file.pid, comm: file.comm, path: file.path });
    await slack.waitFor('the verdict in Slack', () => slack.okCalls('chat.update').length >= 1);
    await new Promise((r) => setTimeout(r, 1000));
    expect(slack.okCalls('chat.postMessage')).toHaveLength(1);
    expect(slack.okCalls('chat.update')).toHaveLength(1);
  }, 120_000);

  it('a replica SIGKILLed mid-capture: the other finishes the triage within leaseSeconds + sample + capture + 15 s, and the node is left clean', async () => {
    const file = await reader();
    const before = playbookDirs();
    expect(perfs()).toEqual([]);
    const cfg = await config();
    const [a, b] = await startReplicas(2, cfg, { engine: 'real' });
    bots.push(a!, b!);
    // To A only, so A claims it (B could, but A is asked first and claims at once).
    const posted = await postAlerts(a!, webhook([{ labels: { instance: 'local' } }]));
    expect(posted.status).toBe(202);
    const id = (posted.json as { triages: { id: string }[] }).triages[0]!.id;
    const owner = await waitFor('a replica to run the triage', async () => {
      const t = (await triagesOf(a!)).find((x) => x.id === id);
      return t?.status === 'running' && t;
    }, 15_000, 100);
    expect(owner.status).toBe('running');
    // Mid-capture: perf is recording.
    await waitFor('perf to record', () => perfs().length > 0, (SAMPLE + 10) * 1000, 100);
    // Whichever replica claimed it dies; the other one must finish it.
    const runner = await whoRuns(id, [a!, b!]);
    const survivor = runner === a ? b! : a!;
    const killedAt = Date.now();
    runner.child.kill('SIGKILL');
    await runner.exited;

    const done = await waitFor('the other replica to finish the triage', async () => {
      const t = (await triagesOf(survivor)).find((x) => x.id === id);
      return t && finished(t) && t;
    }, (LEASE + SAMPLE + CAPTURE + 15) * 1000, 250);
    const tookMs = Date.now() - killedAt;
    expect(tookMs).toBeLessThanOrEqual((LEASE + SAMPLE + CAPTURE + 15) * 1000);
    expect(done.status, JSON.stringify(done.verdict)).toBe('done');
    expect(done.verdict).toMatchObject({ kind: 'mmap-read', pid: file.pid, path: file.path });
    const metrics = await (await fetch(`${survivor.url}/metrics`)).text();
    expect(metrics).toMatch(/^pagefault_triage_lease_takeovers_total\{outcome="requeued"\} 1$/m);

    // The dead replica's step ends at its own timeout: its tracer stops and its temporary directory goes.
    await stopReplicas([survivor]);
    await waitFor('no perf left and no playbook directory left', () => perfs().length === 0 && [...playbookDirs()].every((d) => before.has(d)), 30_000, 250);
    expect(perfs()).toEqual([]);
    expect([...playbookDirs()].filter((d) => !before.has(d))).toEqual([]);
  }, 180_000);
});

/** The replica whose lease the triage is under (from /metrics: leases held). */
async function whoRuns(id: string, replicas: BotProcess[]): Promise<BotProcess> {
  for (const r of replicas) {
    const text = await (await fetch(`${r.url}/metrics`)).text();
    if (/^pagefault_triage_leases_held 1$/m.test(text)) return r;
  }
  throw new Error(`no replica holds the lease of triage ${id}`);
}
