/**
 * Shared by the engine tests: a config for the `local` node or a real sshd on loopback, and the
 * checks that a triage left nothing behind on the node.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { configSchema, type Config, type NodeConfig } from '../../src/config/schema.js';
import type { Sshd } from '../support/sshd.js';

export function localConfig(overrides: Partial<Config['playbook']> = {}): { config: Config; node: NodeConfig } {
  const config = configSchema.parse({ playbook: { sampleSeconds: 2, captureSeconds: 2, ...overrides }, nodes: [{ name: 'local', local: true }] });
  return { config, node: config.nodes[0]! };
}

export function sshConfig(
  sshd: Pick<Sshd, 'host' | 'port' | 'user' | 'privateKeyPath' | 'hostKeyFingerprint'>,
  overrides: { hostKey?: string; connectTimeoutSeconds?: number; playbook?: Partial<Config['playbook']> } = {},
): { config: Config; node: NodeConfig } {
  const config = configSchema.parse({
    playbook: { sampleSeconds: 2, captureSeconds: 2, ...overrides.playbook },
    nodes: [
      {
        name: 'node-1',
        ssh: {
          host: sshd.host,
          port: sshd.port,
          user: sshd.user,
          privateKeyPath: sshd.privateKeyPath,
          hostKey: overrides.hostKey ?? sshd.hostKeyFingerprint,
          connectTimeoutSeconds: overrides.connectTimeoutSeconds ?? 5,
        },
      },
    ],
  });
  return { config, node: config.nodes[0]! };
}

function pgrep(args: string[]): string[] {
  try {
    return execFileSync('pgrep', args, { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** Processes and temp dirs the playbook could leave on this machine (the node, in these tests). */
export function playbookLeftovers(): { perf: string[]; bpftrace: string[]; steps: string[]; tempDirs: string[] } {
  const dirs = new Set([tmpdir(), '/tmp']);
  const tempDirs = [...dirs].flatMap((d) => readdirSync(d).filter((f) => f.startsWith('pft.')).map((f) => `${d}/${f}`));
  return {
    perf: pgrep(['-a', '-x', 'perf']),
    bpftrace: pgrep(['-a', '-x', 'bpftrace']),
    steps: pgrep(['-a', '-f', 'sh -s -- (probe|rank|capture) ']),
    tempDirs,
  };
}

/** The node-side timeout and the playbook's traps need a moment after a step returns. */
export async function expectNodeClean(timeoutMs = 8000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let left = playbookLeftovers();
  while (Date.now() < until) {
    left = playbookLeftovers();
    if (left.perf.length + left.bpftrace.length + left.steps.length + left.tempDirs.length === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the triage left things on the node: ${JSON.stringify(left)}`);
}
