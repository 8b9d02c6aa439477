import { findNode } from '../config/inventory.js';
import type { Config, NodeConfig } from '../config/schema.js';
import { asTriageError, TriageError } from '../errors.js';
import { parseProbe } from '../playbook/parse.js';
import { newNonce, playbookScript, probeArgs, probeTimeoutSeconds } from '../playbook/steps.js';
import { connectorFor } from '../remote/connect.js';
import type { Connector } from '../remote/session.js';
import { checkSlack, formatSlackChecks } from './doctor-slack.js';
import { checkStore, formatStoreCheck } from './doctor-store.js';

/** One node's health as `doctor` sees it. */
export interface NodeCheck {
  node: string;
  address: string;
  ok: boolean;
  connectMs: number | null;
  reachable: string;
  hostKey: string;
  sudo: string;
  perf: string;
  bpftrace: string;
  tracepoint: string;
  problem: string | null;
}

export async function checkNode(config: Config, node: NodeConfig, connector: Connector = connectorFor(node)): Promise<NodeCheck> {
  const address = node.local ? 'local' : `${node.ssh!.host}:${node.ssh!.port}`;
  const check: NodeCheck = {
    node: node.name,
    address,
    ok: false,
    connectMs: null,
    reachable: '–',
    hostKey: node.local ? 'n/a' : '–',
    sudo: node.local || !node.ssh?.sudo ? 'n/a' : '–',
    perf: '–',
    bpftrace: '–',
    tracepoint: '–',
    problem: null,
  };
  const t0 = performance.now();
  let session;
  try {
    session = await connector.open(node, { signal: AbortSignal.timeout(((node.ssh?.connectTimeoutSeconds ?? 10) + 5) * 1000) });
    check.connectMs = Math.round(performance.now() - t0);
    check.reachable = `yes (${check.connectMs} ms)`;
    if (!node.local) check.hostKey = 'matches';
    const nonce = newNonce();
    const out = await session.run({
      script: playbookScript(),
      args: probeArgs(nonce),
      timeoutSeconds: probeTimeoutSeconds(),
      maxOutputBytes: 1024 * 1024,
      signal: AbortSignal.timeout((probeTimeoutSeconds() + 5) * 1000),
    });
    if (out.exitCode !== 0) throw new TriageError('playbook_failed', `probe step failed: ${out.stderr.trim().slice(0, 200) || `exit ${out.exitCode}`}`);
    if (node.ssh?.sudo) check.sudo = 'works';
    const info = parseProbe(out.stdout, nonce);
    const perfTrial = info.perfMajorFaults;
    check.perf = !info.tools.perf ? 'missing' : perfTrial?.ok ? 'ok' : `refused: ${perfTrial?.reason ?? 'not tried'}`;
    check.bpftrace = info.tools.bpftrace ? 'installed' : 'missing';
    check.tracepoint = info.tools.perf ? (perfTrial?.ok ? 'ok' : 'perf refused') : 'missing';
    check.ok = true;
  } catch (err) {
    const e = asTriageError(err);
    if (check.connectMs === null) {
      check.reachable = e.code === 'host_key_mismatch' ? 'yes' : 'no';
      if (e.code === 'host_key_mismatch') check.hostKey = 'MISMATCH';
    } else if (e.code === 'sudo_refused') {
      check.sudo = 'refused';
    }
    check.problem = `${e.code}: ${e.message}`;
  } finally {
    await session?.close().catch(() => {});
  }
  return check;
}

export function formatTable(rows: readonly NodeCheck[]): string {
  const header = ['node', 'address', 'reachable', 'host key', 'sudo', 'perf', 'bpftrace', 'tracepoint'];
  const body = rows.map((r) => [r.node, r.address, r.reachable, r.hostKey, r.sudo, r.perf, r.bpftrace, r.tracepoint]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => Math.min(48, b[i]!.length))));
  const line = (cells: string[]) => cells.map((c, i) => (c.length > 48 ? `${c.slice(0, 47)}…` : c).padEnd(widths[i]!)).join('  ').trimEnd();
  const problems = rows.filter((r) => r.problem).map((r) => `${r.node}: ${r.problem}`);
  return [line(header), ...body.map(line), ...(problems.length ? ['', ...problems] : [])].join('\n') + '\n';
}

/**
 * `pagefault-triage doctor [NODE]`: a table on stdout, then the Slack tokens and the store; exit 1 when any node
 * cannot be triaged, a token does not work or the store cannot be used.
 */
export async function doctorCommand(config: Config, nodeName?: string): Promise<number> {
  let nodes = config.nodes;
  if (nodeName !== undefined) {
    const node = findNode(config.nodes, nodeName);
    if (!node) throw new TriageError('unknown_node', `unknown node "${nodeName}" (configured: ${config.nodes.map((n) => n.name).join(', ')})`);
    nodes = [node];
  }
  const rows = await Promise.all(nodes.map((n) => checkNode(config, n)));
  process.stdout.write(formatTable(rows));
  // The Slack tokens, when Slack is configured (the whole configuration is checked, not one node).
  const slack = config.slack && nodeName === undefined ? await checkSlack(config.slack) : [];
  if (slack.length > 0) process.stdout.write(`\n${formatSlackChecks(slack)}`);
  // The store every replica shares (or the embedded file), when the whole configuration is checked.
  const store = nodeName === undefined ? await checkStore(config.storage) : null;
  if (store) process.stdout.write(`\n${formatStoreCheck(store)}`);
  return rows.every((r) => r.ok) && slack.every((c) => c.ok) && store?.ok !== false ? 0 : 1;
}
