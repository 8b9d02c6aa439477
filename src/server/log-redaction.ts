import type { FastifyRequest, FastifyServerOptions } from 'fastify';

/**
 * The request log must not hand out capabilities: a signed report link's `?sig=` opens a report, and a token
 * someone puts in a query string (`?token=`, `?access_token=`) is as good as the header. Every query value is
 * replaced, whatever its name (an allowlist of harmless names would go stale), and the Authorization and Cookie
 * headers are censored wherever a log line carries headers.
 */

const REDACTED = '[redacted]';

/** `/reports/ID?sig=…&x=1` → `/reports/ID?sig=[redacted]&x=[redacted]`; the fragment is dropped. */
export function redactUrl(url: string): string {
  const noFragment = url.split('#', 1)[0] ?? '';
  const q = noFragment.indexOf('?');
  if (q < 0) return noFragment;
  const names = noFragment
    .slice(q + 1)
    .split('&')
    .filter((p) => p !== '')
    .map((p) => `${p.split('=', 1)[0]}=${REDACTED}`);
  return names.length === 0 ? noFragment.slice(0, q) : `${noFragment.slice(0, q)}?${names.join('&')}`;
}

/** fastify's default request serializer, with the URL redacted. */
function serializeRequest(req: FastifyRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: redactUrl(req.url),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

const redactPaths = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie', 'authorization'];

/** The logger options `serve` uses: the caller's (level, stream), with the redaction always on top. */
export function redactingLogger(logger: FastifyServerOptions['logger'] | undefined): FastifyServerOptions['logger'] {
  if (logger === false) return false;
  const base = logger === undefined || logger === true ? { level: 'info' } : logger;
  return { ...base, serializers: { ...(base as { serializers?: object }).serializers, req: serializeRequest }, redact: { paths: redactPaths, censor: REDACTED } };
}
