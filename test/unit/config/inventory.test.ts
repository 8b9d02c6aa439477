import { describe, expect, it } from 'vitest';
import { instanceHost, matchNode } from '../../../src/config/inventory.js';
import { parseConfig } from '../../../src/config/load.js';

const cfg = parseConfig(
  `nodes:
  - name: node-1
    ssh: { host: 10.0.0.5, user: t, privateKeyPath: /k, hostKey: "SHA256:Xh3yqJ0o3PZ9Vt2cHqL2Vb8oQqSxW1bq6xv2l6n8tYk" }
  - name: by-labels
    match: { cluster: prod, nodename: worker-7 }
    local: true
  - name: node-3
    local: true
`,
  {},
);

describe('instanceHost', () => {
  it.each([
    ['10.0.0.5:9100', '10.0.0.5'],
    ['node-1', 'node-1'],
    ['node-1:9100', 'node-1'],
    ['[fe80::1]:9100', 'fe80::1'],
    ['fe80::1', 'fe80::1'],
  ])('%s → %s', (instance, host) => expect(instanceHost(instance)).toBe(host));
});

describe('matchNode', () => {
  it('matches the instance host part against ssh.host or the name', () => {
    expect(matchNode(cfg.nodes, { instance: '10.0.0.5:9100' })?.name).toBe('node-1');
    expect(matchNode(cfg.nodes, { instance: 'node-1:9100' })?.name).toBe('node-1');
    expect(matchNode(cfg.nodes, { instance: 'node-3' })?.name).toBe('node-3');
  });
  it('needs every label of `match` to be equal', () => {
    expect(matchNode(cfg.nodes, { cluster: 'prod', nodename: 'worker-7', instance: 'x:1' })?.name).toBe('by-labels');
    expect(matchNode(cfg.nodes, { cluster: 'prod', instance: 'x:1' })).toBeUndefined();
  });
  it('does not match a node with `match` by its name', () => {
    expect(matchNode(cfg.nodes, { instance: 'by-labels:9100' })).toBeUndefined();
  });
  it('returns undefined for an unknown instance', () => {
    expect(matchNode(cfg.nodes, { instance: '10.9.9.9:9100' })).toBeUndefined();
    expect(matchNode(cfg.nodes, {})).toBeUndefined();
  });
});
