/** LocalConnector: the same stand-in playbook and rules as over SSH, on this machine. */
import { beforeAll, describe, expect, it } from 'vitest';
import type { NodeConfig } from '../../src/config/schema.js';
import { TriageError } from '../../src/errors.js';
import { connectorFor } from '../../src/remote/connect.js';
import { LocalConnector } from '../../src/remote/local.js';
import type { NodeSession, StepRequest } from '../../src/remote/session.js';
import { BIG_SCRIPT, STAND_IN_SCRIPT, nonce, pgrep, pkill, requireCommands, waitFor } from './helpers.js';

const node: NodeConfig = { name: 'local', local: true };
const connector = new LocalConnector({ deadlineGraceMs: 500 });

function step(args: string[], over: Partial<StepRequest> = {}): StepRequest {
  return { script: STAND_IN_SCRIPT, args, timeoutSeconds: 20, maxOutputBytes: 1024 * 1024, ...over };
}

async function failure(p: Promise<unknown>): Promise<TriageError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TriageError);
    return err as TriageError;
  }
  throw new Error('expected a TriageError');
}

async function withSession<T>(fn: (s: NodeSession) => Promise<T>): Promise<T> {
  const session = await connector.open(node, {});
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

beforeAll(() => {
  requireCommands('pgrep', 'pkill', 'setsid', 'timeout');
});

describe('LocalConnector', { timeout: 30_000 }, () => {
  it('runs a step: stdout, stderr, exit code, the script from stdin, the arguments', async () => {
    expect(connectorFor(node)).toBeInstanceOf(LocalConnector);
    await withSession(async (s) => {
      expect(s.address).toBe('local');
      const out = await s.run(step(['hello', 'abc123']));
      expect(out).toMatchObject({
        stdout: `hello abc123 uid=${process.getuid?.()} sum=42\n`,
        stderr: 'to stderr\n',
        exitCode: 3,
        exitSignal: null,
        truncated: false,
      });
      expect(out.ms).toBeGreaterThanOrEqual(0);
    });
  });

  it('sends the whole script on stdin, however large', async () => {
    await withSession(async (s) => {
      expect((await s.run(step(['hello', 'big'], { script: BIG_SCRIPT }))).stdout).toMatch(/^hello big /);
    });
  });

  it('refuses an unsafe argument before anything runs', async () => {
    await withSession(async (s) => {
      const err = await failure(s.run(step(['hello', '$(touch /tmp/pft-pwned)'])));
      expect(err.code).toBe('internal');
    });
  });

  it('refuses a node that is not local', async () => {
    const err = await failure(connector.open({ name: 'x', ssh: undefined }, {}));
    expect(err.code).toBe('internal');
  });

  it('bounds a step with the node-side timeout', async () => {
    const id = nonce();
    await withSession(async (s) => {
      const t0 = Date.now();
      const out = await s.run(step(['wait', id], { timeoutSeconds: 1 }));
      expect(out.exitCode).toBe(124);
      expect(Date.now() - t0).toBeLessThan(4000);
    });
    expect(pgrep(id)).toEqual([]);
  });

  it('keeps the first maxOutputBytes of a flood, drops the rest and stays bounded in memory', async () => {
    const cap = 1024 * 1024;
    await withSession(async (s) => {
      global.gc?.();
      const base = process.memoryUsage();
      let peak = 0;
      const sampler = setInterval(() => {
        const m = process.memoryUsage();
        peak = Math.max(peak, m.heapUsed + m.arrayBuffers - (base.heapUsed + base.arrayBuffers));
      }, 20);
      const out = await s
        .run(step(['flood', String(500 * 1024 * 1024)], { maxOutputBytes: cap, timeoutSeconds: 60 }))
        .finally(() => clearInterval(sampler));
      expect(out).toMatchObject({ truncated: true, exitCode: 0, stderr: 'flood done\n' });
      expect(out.stdout.length).toBe(cap);
      expect(peak).toBeLessThan(64 * 1024 * 1024);
    });
  }, 60_000);

  it('aborting a step kills its whole process group', async () => {
    const id = nonce();
    const ac = new AbortController();
    await withSession(async (s) => {
      const running = s.run(step(['wait', id], { timeoutSeconds: 60, signal: ac.signal }));
      await waitFor('the step to start', () => pgrep(`pft-wait-${id}`).length > 0, 5000);
      ac.abort();
      expect((await failure(running)).code).toBe('cancelled');
      await waitFor('the step to die', () => pgrep(id).length === 0, 2000);
    });
  });

  it('an already aborted signal runs nothing', async () => {
    await withSession(async (s) => {
      const err = await failure(s.run(step(['hello', 'x'], { signal: AbortSignal.abort() })));
      expect(err.code).toBe('cancelled');
    });
  });

  it('closing the session stops a running step', async () => {
    const id = nonce();
    const s = await connector.open(node, {});
    const running = s.run(step(['wait', id], { timeoutSeconds: 60 }));
    await waitFor('the step to start', () => pgrep(`pft-wait-${id}`).length > 0, 5000);
    await s.close();
    expect((await failure(running)).code).toBe('cancelled');
    await waitFor('the step to die', () => pgrep(id).length === 0, 2000);
    expect((await failure(s.run(step(['hello', 'x'])))).code).toBe('internal');
  });

  it('gives up with deadline_exceeded when a step outlives its node-side timeout', async () => {
    const id = nonce();
    try {
      await withSession(async (s) => {
        const t0 = Date.now();
        const err = await failure(s.run(step(['escape', id], { timeoutSeconds: 1 })));
        expect(err.code).toBe('deadline_exceeded');
        const took = Date.now() - t0;
        expect(took).toBeGreaterThanOrEqual(3500);
        expect(took).toBeLessThan(6000);
      });
    } finally {
      pkill(`pft-escape-${id}`);
    }
  });
});
