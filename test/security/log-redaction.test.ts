/**
 * Request logs (SECURITY.md): a signed report link's `?sig=` is a capability, and so is any token someone puts
 * in a query string or an Authorization header. The request log must carry none of them.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { reportSignature } from '../../src/model/report-link.js';
import { redactUrl } from '../../src/server/log-redaction.js';
import { startServer } from '../../src/server/server.js';
import { fakeRender, recordingTriage, tempDir, testConfig } from '../support/service.js';

const REPORT_TOKEN = 'report-token-0123456789abcdef';
const WEBHOOK_TOKEN = 'webhook-token-0123456789abcdef';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('request log redaction', () => {
  it('a signed link read, a token in a query string and an Authorization header leave no secret in the log', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const dir = tempDir('pft-logs-');
    const server = await startServer(testConfig(dir.path, { server: { reportToken: REPORT_TOKEN, webhookToken: WEBHOOK_TOKEN } }), {
      logger: { level: 'info', stream },
      handleSignals: false,
      triage: recordingTriage().triage,
      render: fakeRender,
    });
    cleanups.push(dir.remove, () => server.close());
    const { id } = await server.service.requestTriage('local', { kind: 'cli' });
    await server.service.dispatcher.idle();
    const sig = reportSignature(REPORT_TOKEN, id);

    expect((await fetch(`${server.url}/reports/${id}?sig=${sig}`)).status).toBe(200);
    expect((await fetch(`${server.url}/reports/${id}.md?x=1&sig=${encodeURIComponent(sig)}`)).status).toBe(200);
    await (await fetch(`${server.url}/triages?token=${REPORT_TOKEN}&limit=5`)).arrayBuffer();
    await (await fetch(`${server.url}/triages`, { headers: { authorization: `Bearer ${REPORT_TOKEN}` } })).arrayBuffer();
    await (await fetch(`${server.url}/alerts?access_token=${WEBHOOK_TOKEN}`, { method: 'POST', headers: { authorization: `Bearer ${WEBHOOK_TOKEN}`, 'content-type': 'application/json' }, body: '{}' })).arrayBuffer();
    await server.close();

    const log = lines.join('');
    // The reads were logged at all (so the absence below means something)...
    expect(log).toContain(`/reports/${id}?sig=[redacted]`);
    expect(log).toContain(`/reports/${id}.md?x=[redacted]&sig=[redacted]`);
    expect(log).toContain('/triages?token=[redacted]&limit=[redacted]');
    // ...and nothing that opens a report or posts an alert is in it.
    for (const secret of [sig, encodeURIComponent(sig), REPORT_TOKEN, WEBHOOK_TOKEN]) expect(log.split("\n").filter((l) => l.includes(secret)), secret).toEqual([]);
  });

  it('redactUrl keeps the path and the parameter names, never a value', () => {
    expect(redactUrl('/reports/abc?sig=s3cret')).toBe('/reports/abc?sig=[redacted]');
    expect(redactUrl('/reports/abc')).toBe('/reports/abc');
    expect(redactUrl('/a?b&c=d&&e=')).toBe('/a?b=[redacted]&c=[redacted]&e=[redacted]');
    expect(redactUrl('/a?sig=x#frag')).toBe('/a?sig=[redacted]');
    expect(redactUrl('/a?%3Cscript%3E=x')).toBe('/a?%3Cscript%3E=[redacted]');
  });
});
