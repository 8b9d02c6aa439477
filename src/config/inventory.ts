import type { Config, NodeConfig } from './schema.js';

/** The host part of an `instance` label: `10.0.0.5:9100` → `10.0.0.5`, `[::1]:9100` → `::1`, `node-1` → `node-1`. */
export function instanceHost(instance: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(instance);
  if (v6) return v6[1]!;
  const colons = instance.split(':').length - 1;
  if (colons === 1) return instance.slice(0, instance.lastIndexOf(':'));
  return instance; // bare name, or a bare IPv6 address
}

/**
 * Finds the inventory node an alert is about. A node with `match` needs every label of one of its
 * label sets to be equal; a node without it matches when the instance's host part equals its name
 * or ssh.host.
 */
export function matchNode(nodes: Config['nodes'], labels: Record<string, string>): NodeConfig | undefined {
  // Once per alert, not once per node: a 200-alert webhook against 200 nodes would parse it 40,000 times.
  const host = labels.instance === undefined ? undefined : instanceHost(labels.instance);
  for (const node of nodes) {
    if (node.match) {
      if (node.match.some((set) => Object.entries(set).every(([k, v]) => labels[k] === v))) return node;
      continue;
    }
    if (host === undefined) continue;
    if (host === node.name || (node.ssh && host === node.ssh.host)) return node;
  }
  return undefined;
}

export function findNode(nodes: Config['nodes'], name: string): NodeConfig | undefined {
  return nodes.find((n) => n.name === name);
}
