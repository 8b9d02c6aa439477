import { describe, expect, it } from 'vitest';
import { matchNode } from '../../src/config/inventory.js';
import { loadConfig, parseConfig } from '../../src/config/load.js';

describe('config/default.yaml (the embedded default)', () => {
  it('loads: loopback on 9095, ./data, no Slack, the local node', () => {
    const c = loadConfig(undefined, {});
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 9095, publicUrl: 'http://127.0.0.1:9095' });
    expect(c.server.webhookToken).toBeUndefined();
    expect(c.storage.path).toBe('./data');
    expect(c.slack).toBeUndefined();
    expect(c.nodes.map((n) => [n.name, n.local])).toEqual([['local', true]]);
    expect(c.triage).toMatchObject({ alertnames: ['NodeMemoryMajorPagesFaults'], cooldownSeconds: 600, maxConcurrent: 8 });
  });

  it('takes the token and public URL from the environment when set', () => {
    const c = loadConfig(undefined, { PFT_WEBHOOK_TOKEN: 'a-token-of-sixteen-chars', PFT_PUBLIC_URL: 'https://triage.example' });
    expect(c.server).toMatchObject({ webhookToken: 'a-token-of-sixteen-chars', publicUrl: 'https://triage.example' });
  });

  it.each(['localhost:9100', '127.0.0.1:9100', '[::1]:9100', 'local', 'local:9100'])('maps instance=%s to the local node', (instance) => {
    expect(matchNode(loadConfig(undefined, {}).nodes, { instance })?.name).toBe('local');
  });

  it('maps nothing else to it', () => {
    const nodes = loadConfig(undefined, {}).nodes;
    expect(matchNode(nodes, { instance: '10.0.0.5:9100' })).toBeUndefined();
    expect(matchNode(nodes, { instance: 'localhost:9200' })).toBeUndefined();
  });
});

describe('match as a list of label sets', () => {
  const nodes = parseConfig(
    `nodes:
  - name: a
    local: true
    match:
      - { instance: "10.0.0.5:9100" }
      - { cluster: prod, nodename: worker-7 }
  - name: b
    local: true
    match: { instance: "b:9100" }
`,
    {},
  ).nodes;

  it('matches when all labels of any one set are equal', () => {
    expect(matchNode(nodes, { instance: '10.0.0.5:9100' })?.name).toBe('a');
    expect(matchNode(nodes, { cluster: 'prod', nodename: 'worker-7', instance: 'x' })?.name).toBe('a');
    expect(matchNode(nodes, { cluster: 'prod', instance: 'x' })).toBeUndefined();
    expect(matchNode(nodes, { instance: 'b:9100' })?.name).toBe('b');
  });

  it('refuses an empty label set', () => {
    expect(() => parseConfig('nodes:\n  - { name: a, local: true, match: [{}] }\n', {})).toThrow(/a match label set needs at least one label/);
  });
});
