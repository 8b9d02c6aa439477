import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../../src/config/load.js';
import { packageRoot } from '../../../src/paths.js';

const minimal = `nodes:\n  - name: local\n    local: true\n`;
const sshNode = (extra = '') => `nodes:
  - name: node-1
    ssh:
      host: 10.0.0.5
      user: triage
      privateKeyPath: /k
      hostKey: "SHA256:Xh3yqJ0o3PZ9Vt2cHqL2Vb8oQqSxW1bq6xv2l6n8tYk"
${extra}`;

describe('parseConfig', () => {
  it('fills the design defaults', () => {
    const c = parseConfig(minimal, {});
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 9095 });
    expect(c.playbook).toMatchObject({ sampleSeconds: 5, captureSeconds: 5, topProcesses: 5, tracer: 'auto' });
    expect(c.triage).toMatchObject({ alertnames: ['NodeMemoryMajorPagesFaults'], cooldownSeconds: 600, maxConcurrent: 8 });
    expect(c.storage.path).toBe('./data');
    expect(c.slack).toBeUndefined();
  });

  it('names the exact key and reason of a bad value', () => {
    expect(() => parseConfig(sshNode().replace('SHA256:Xh3y', 'MD5:Xh3y'), {})).toThrow(/nodes\[0\]\.ssh\.hostKey: a host key is "SHA256:"/);
    expect(() => parseConfig(`playbook:\n  sampleSeconds: 0\n${minimal}`, {})).toThrow(/playbook\.sampleSeconds: /);
    expect(() => parseConfig(`playbook:\n  tracer: dtrace\n${minimal}`, {})).toThrow(/playbook\.tracer: /);
  });

  it('refuses unknown keys, so a typo does not silently fall back to a default', () => {
    expect(() => parseConfig(`playbook:\n  sampleSecond: 3\n${minimal}`, {})).toThrow(/playbook: Unrecognized key: "sampleSecond"/);
  });

  it('refuses a node that is neither local nor ssh, and duplicate names', () => {
    expect(() => parseConfig(`nodes:\n  - name: a\n`, {})).toThrow(/nodes\[0\]: a node needs ssh settings or local: true/);
    expect(() => parseConfig(`nodes:\n  - {name: a, local: true}\n  - {name: a, local: true}\n`, {})).toThrow(/nodes\[1\]\.name: duplicate node name "a"/);
  });

  it('substitutes ${VAR} after parsing, so a value cannot change the structure', () => {
    const c = parseConfig(`server:\n  host: \${HOST}\n${minimal}`, { HOST: 'x: y\n  port: 1 # 0123456789' });
    expect(c.server.host).toBe('x: y\n  port: 1 # 0123456789');
    expect(c.server.port).toBe(9095);
  });

  it('names the key whose variable is unset, and honours ${VAR:-default}', () => {
    expect(() => parseConfig(`server:\n  webhookToken: \${NOPE}\n${minimal}`, {})).toThrow(/server\.webhookToken: environment variable NOPE is not set/);
    const c = parseConfig(`server:\n  webhookToken: \${NOPE:-}\n${minimal}`, {});
    expect(c.server.webhookToken).toBeUndefined();
  });

  it('refuses a ${VAR} that is set but empty, naming the key, unless the reference gives a default', () => {
    // An empty PFT_WEBHOOK_TOKEN must not start the bot without a token.
    expect(() => parseConfig(`server:\n  webhookToken: \${PFT_WEBHOOK_TOKEN}\n${minimal}`, { PFT_WEBHOOK_TOKEN: '' })).toThrow(
      /server\.webhookToken: environment variable PFT_WEBHOOK_TOKEN is set but empty/,
    );
    expect(() => parseConfig(`server:\n  reportToken: \${PFT_REPORT_TOKEN}\n${minimal}`, { PFT_REPORT_TOKEN: '' })).toThrow(
      /server\.reportToken: environment variable PFT_REPORT_TOKEN is set but empty/,
    );
    // Written with an explicit default, empty means "not set" on purpose.
    expect(parseConfig(`server:\n  webhookToken: \${PFT_WEBHOOK_TOKEN:-}\n${minimal}`, { PFT_WEBHOOK_TOKEN: '' }).server.webhookToken).toBeUndefined();
    // As in sh, ${VAR:-default} also applies to a set but empty variable.
    expect(parseConfig(`server:\n  host: \${PFT_HOST:-127.0.0.2}\n${minimal}`, { PFT_HOST: '' }).server.host).toBe('127.0.0.2');
  });

  it('refuses tokens that could never be sent in a header, and a signing secret that is not one Slack issues', () => {
    const withToken = (key: string, value: string) => parseConfig(`server:\n  ${key}: \${T}\n${minimal}`, { T: value });
    for (const key of ['webhookToken', 'reportToken']) {
      for (const bad of ['abcdefgh ijklmnopqrstu', ' abcdefghijklmnopqrstu', 'abcdefghijklmnopqrstu\n', 'abcdefgh\tijklmnopqrstu', 'abcdéfghijklmnopqrstu']) {
        expect(() => withToken(key, bad), JSON.stringify(bad)).toThrow(new RegExp(`server\\.${key}: .*printable ASCII`));
      }
      expect(withToken(key, 'Zm9vYmFyYmF6cXV4cXV1eA+/=_-~.').server[key as 'webhookToken']).toBe('Zm9vYmFyYmF6cXV4cXV1eA+/=_-~.');
    }
    const slack = (secret: string) => `slack:\n  token: xoxb-1\n  signingSecret: "${secret}"\n  channel: C1\n${minimal}`;
    for (const bad of ['s', '8f742231b10e8888abcd99yyyzzz85a5', '8f742231b10e8888abcd99edcbaf85a', '8f742231b10e8888abcd99edcbaf85a5 ']) {
      expect(() => parseConfig(slack(bad), {}), bad).toThrow(/slack\.signingSecret: .*32 hexadecimal/);
    }
    expect(parseConfig(slack('8f742231b10e8888abcd99edcbaf85a5'), {}).slack!.signingSecret).toBe('8f742231b10e8888abcd99edcbaf85a5');
  });

  it('reports YAML syntax errors with the source', () => {
    expect(() => parseConfig('nodes: [', {}, 'x.yaml')).toThrow(/x\.yaml: not valid YAML/);
  });

  it('loads the embedded default and the example', () => {
    const d = loadConfig(undefined, {});
    expect(d.nodes.some((n) => n.name === 'local' && n.local)).toBe(true);
    expect(d.slack).toBeUndefined();
    const example = readFileSync(join(packageRoot, 'config', 'example.yaml'), 'utf8');
    const e = parseConfig(example, { PFT_WEBHOOK_TOKEN: 'a'.repeat(32), SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1' });
    expect(e.nodes).toHaveLength(2);
    expect(e.slack).toMatchObject({ token: 'xoxb-1', appToken: 'xapp-1' });
    expect(e.nodes[1]!.ssh!.jumpHost!.host).toBe('bastion.example.com');
  });

  it('says which file it could not read', () => {
    expect(() => loadConfig('/nonexistent/pft.yaml', {})).toThrow(/cannot read config file \/nonexistent\/pft\.yaml: ENOENT/);
  });
});
