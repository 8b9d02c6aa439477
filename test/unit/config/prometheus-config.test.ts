import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';

const parse = (extra: Record<string, unknown>, node: Record<string, unknown> = {}) =>
  configSchema.safeParse({ nodes: [{ name: 'local', local: true, ...node }], ...extra });
const issues = (r: ReturnType<typeof parse>) => (r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));

describe('prometheus configuration', () => {
  it('is absent unless configured', () => {
    const r = parse({});
    expect(r.success && r.data.prometheus).toBeUndefined();
  });
  it('needs only a url; lookback 60 min, timeout 3 s, rate window 60 s by default', () => {
    const r = parse({ prometheus: { url: 'http://prometheus:9090' } });
    expect(r.success && r.data.prometheus).toEqual({ url: 'http://prometheus:9090', lookbackMinutes: 60, timeoutSeconds: 3, rateWindowSeconds: 60 });
    expect(issues(parse({ prometheus: { lookbackMinutes: 30 } }))).toEqual([expect.stringMatching(/^prometheus\.url: /)]);
  });
  it('takes a bearer token or basic auth, not both', () => {
    expect(parse({ prometheus: { url: 'http://p:9090', bearerToken: 't' } }).success).toBe(true);
    expect(parse({ prometheus: { url: 'http://p:9090', basicAuth: { username: 'u', password: 'p' } } }).success).toBe(true);
    expect(issues(parse({ prometheus: { url: 'http://p:9090', bearerToken: 't', basicAuth: { username: 'u', password: 'p' } } }))).toEqual([
      'prometheus: prometheus takes bearerToken or basicAuth, not both',
    ]);
  });
  it('refuses credentials in the URL and schemes other than http(s)', () => {
    expect(issues(parse({ prometheus: { url: 'http://u:p@p:9090' } }))).toEqual(['prometheus.url: put credentials in prometheus.basicAuth, not in the URL']);
    expect(issues(parse({ prometheus: { url: 'file:///etc/passwd' } }))).toEqual(['prometheus.url: prometheus.url must be http:// or https://']);
  });
  it('refuses unknown keys and out-of-range numbers', () => {
    expect(parse({ prometheus: { url: 'http://p:9090', timeout: 3 } }).success).toBe(false);
    expect(parse({ prometheus: { url: 'http://p:9090', timeoutSeconds: 0 } }).success).toBe(false);
    expect(parse({ prometheus: { url: 'http://p:9090', lookbackMinutes: 0 } }).success).toBe(false);
  });
  it("a node's selector is a non-empty label set with Prometheus label names; any value", () => {
    const r = parse({}, { prometheus: { selector: { instance: 'x"} or vector(1)', job: 'node' } } });
    expect(r.success && r.data.nodes[0]!.prometheus).toEqual({ selector: { instance: 'x"} or vector(1)', job: 'node' } });
    expect(parse({}, { prometheus: { selector: {} } }).success).toBe(false);
    expect(issues(parse({}, { prometheus: { selector: { 'bad-name': 'x' } } }))[0]).toMatch(/Prometheus label name/);
  });
});
