/**
 * Report access (SECURITY.md): ids are 128-bit capabilities; the list that hands them out answers loopback
 * clients only; with server.reportToken every read needs the token or a link the bot signed. The report page
 * runs no script and sends the security headers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { reportSignature } from '../../src/model/report-link.js';
import { triageIdPattern } from '../../src/model/ids.js';
import { buildApp, recordingTriage, tempDir, testConfig } from '../support/service.js';

const REPORT_TOKEN = 'report-token-0123456789abcdef';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function withTriage(server: Record<string, unknown> = {}): Promise<{ app: FastifyInstance; id: string; reportUrl: string }> {
  const dir = tempDir('pft-access-');
  const { app, service } = await buildApp(testConfig(dir.path, { server }), { triage: recordingTriage().triage });
  cleanups.push(dir.remove, () => app.close());
  const { id } = await service.requestTriage('local', { kind: 'cli' });
  await service.dispatcher.idle();
  return { app, id, reportUrl: (await service.getTriage(id))!.reportUrl! };
}

const pathOf = (url: string) => url.replace(/^https?:\/\/[^/]+/, '');

describe('without server.reportToken', () => {
  it('reads by id from anywhere, lists from loopback only', async () => {
    const { app, id, reportUrl } = await withTriage();
    expect(reportUrl).toBe(`http://127.0.0.1:0/reports/${id}`);
    for (const remoteAddress of ['127.0.0.1', '10.9.8.7']) {
      expect((await app.inject({ url: `/reports/${id}`, remoteAddress })).statusCode).toBe(200);
      expect((await app.inject({ url: `/triages/${id}`, remoteAddress })).statusCode).toBe(200);
    }
    expect((await app.inject({ url: '/triages', remoteAddress: '127.0.0.1' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/triages', remoteAddress: '::1' })).statusCode).toBe(200);
    const remote = await app.inject({ url: '/triages?limit=500', remoteAddress: '10.9.8.7' });
    expect(remote.statusCode).toBe(401);
    expect(remote.json().message).toBe('listing triages is for loopback clients only; set server.reportToken to list them from elsewhere');
    expect(remote.body).not.toContain(id);
  });

  it('ids are 128 random bits: nothing to enumerate, no directory listing', async () => {
    const { app, id } = await withTriage();
    expect(id).toMatch(triageIdPattern);
    expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    // Another id of the same shape: the last character changed, never to itself.
    const other = `${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}`;
    for (const url of ['/reports', '/reports/', '/triages/', `/reports/${other}`, '/reports/..%2f..%2fetc%2fpasswd', `/reports/${id}/`, '/reports/.md']) {
      const res = await app.inject({ url });
      expect([401, 404], url).toContain(res.statusCode);
      expect(res.body, url).not.toContain(id);
    }
  });
});

describe('with server.reportToken', () => {
  it('needs the token or the signed link for every read, and says nothing about which ids exist', async () => {
    const { app, id, reportUrl } = await withTriage({ reportToken: REPORT_TOKEN });
    const sig = reportSignature(REPORT_TOKEN, id);
    expect(reportUrl).toBe(`http://127.0.0.1:0/reports/${id}?sig=${sig}`);
    const bearer = { authorization: `Bearer ${REPORT_TOKEN}` };

    for (const url of [`/reports/${id}`, `/reports/${id}.md`, `/triages/${id}`, '/triages', `/reports/AAAAAAAAAAAAAAAAAAAAAA`]) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="pagefault-triage reports"');
    }
    // The signed link opens the page, and the links on the page carry the signature on.
    const page = await app.inject({ url: pathOf(reportUrl) });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(`href="${id}.md?sig=${sig}"`);
    expect((await app.inject({ url: `/reports/${id}.md?sig=${sig}` })).statusCode).toBe(200);
    expect((await app.inject({ url: `/triages/${id}?sig=${sig}` })).json().reportUrl).toBe(reportUrl);
    // A signature is for one id, and it is no use mangled.
    const other = await withTriage({ reportToken: REPORT_TOKEN });
    expect((await app.inject({ url: `/reports/${other.id}?sig=${sig}` })).statusCode).toBe(401);
    for (const bad of [sig.slice(1), `${sig}x`, sig.toUpperCase(), '', 'x'.repeat(5000)]) {
      expect((await app.inject({ url: `/reports/${id}?sig=${encodeURIComponent(bad)}` })).statusCode, bad).toBe(401);
    }
    // A signature under another token does not open it either.
    expect((await app.inject({ url: `/reports/${id}?sig=${reportSignature('another-token-0123456789', id)}` })).statusCode).toBe(401);
    // The token opens everything, the list included, from anywhere.
    for (const url of [`/reports/${id}`, `/reports/${id}.md`, `/triages/${id}`, '/triages']) {
      expect((await app.inject({ url, headers: bearer, remoteAddress: '10.9.8.7' })).statusCode, url).toBe(200);
    }
    expect((await app.inject({ url: '/triages', headers: { authorization: 'Bearer wrong-token-0123456789abc' } })).statusCode).toBe(401);
  });
});

describe('the report page', () => {
  it('sends a CSP without scripts, nosniff, no referrer, no framing and no caching', async () => {
    const { app, id } = await withTriage();
    const page = await app.inject({ url: `/reports/${id}` });
    expect(page.statusCode).toBe(200);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/script-src|unsafe-eval/);
    expect(page.body).not.toMatch(/<script\b|\son[a-z]+=/i);
    expect(page.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      'cache-control': 'private, no-store',
    });
    const md = await app.inject({ url: `/reports/${id}.md` });
    expect(md.headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'cache-control': 'private, no-store' });
    // JSON and errors get the defaults too.
    for (const url of [`/triages/${id}`, '/nope', '/-/healthy']) {
      const res = await app.inject({ url });
      expect(res.headers['x-content-type-options'], url).toBe('nosniff');
      expect(res.headers['content-security-policy'], url).toBe("default-src 'none'; frame-ancestors 'none'");
    }
  });
});
