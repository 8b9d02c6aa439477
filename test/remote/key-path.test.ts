import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { triageNode } from '../../src/pipeline.js';
import { renderReport } from '../../src/report/markdown.js';

/**
 * The SSH private key's path is the bot's own business (SECURITY.md): a triage that cannot read the key says so
 * in its verdict, which goes to Slack and the report, without the path; the log, which the operator reads, has it.
 */
describe('a private key that cannot be read', () => {
  it('fails the triage without the key path in the verdict or report, and logs the path', async () => {
    const keyPath = '/etc/pagefault-triage-secret-dir/id_ed25519_prod';
    const config = configSchema.parse({
      nodes: [{ name: 'node-1', ssh: { host: '127.0.0.1', port: 1, user: 'triage', privateKeyPath: keyPath, hostKey: `SHA256:${'A'.repeat(43)}` } }],
    });
    const lines: string[] = [];
    const log = pino({ level: 'info' }, new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    }));
    const r = await triageNode(config, config.nodes[0]!, { kind: 'cli' }, { log });
    expect(r.verdict.kind).toBe('failed');
    expect(r.verdict.failure).toMatchObject({ code: 'config_invalid' });
    expect(r.verdict.failure!.message).toMatch(/cannot read the SSH private key of node-1 \(ssh\.privateKeyPath\): ENOENT/);
    for (const shown of [r.verdict.summary, r.verdict.failure!.message, JSON.stringify(r.verdict), renderReport(r, { reportUrl: null })]) {
      expect(shown).not.toContain('pagefault-triage-secret-dir');
      expect(shown).not.toContain('id_ed25519_prod');
    }
    const logged = lines.join('');
    expect(logged).toContain(keyPath);
    expect(logged).toContain('"node":"node-1"');
  });
});
