import rateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';
import { bearerMatches } from '../intake/auth.js';
import type { Service } from '../service.js';

/**
 * What every route gets, whoever wrote it (registered by app.ts before any route):
 *
 * - request rate limits on the routes anyone on the network can call, per client address, counted before the
 *   body is parsed, so a flood costs the bot a map lookup (and, on /alerts, a hash) per request:
 *   - POST /alerts is counted in two separate buckets, because Alertmanager often shares its address with others
 *     (same host, NAT, a proxy): requests that fail the token check (server.rateLimit.unauthorized; past it 429,
 *     as final as the 401 they would get anyway), and requests that pass it, or all requests when no token is
 *     set (server.rateLimit.alerts). Junk therefore never uses up Alertmanager's bucket. Past its own limit the
 *     token holder gets 503 + Retry-After, never 429: Alertmanager treats any 4xx as final and would drop the
 *     notification, while it retries a 5xx.
 *   - everything under /slack/ (server.rateLimit.slack), 429 with Retry-After.
 * - response headers: nosniff, no referrer, no framing, and a deny-all CSP on anything that does not set its
 *   own (the report page sets one that allows its inline styles, never a script).
 */

type Limiter = ReturnType<import('fastify').FastifyInstance['createRateLimit']>;
type Bucket = 'alerts' | 'alerts_unauthorized' | 'slack';

/** Which limit a request falls under, by its route (or path, for unknown routes under /slack/). */
export function limitedRoute(req: FastifyRequest): 'alerts' | 'slack' | null {
  const path = req.routeOptions.url ?? req.url.split('?')[0] ?? '';
  if (path === '/alerts') return 'alerts';
  if (path.startsWith('/slack/')) return 'slack';
  return null;
}

const hardening: FastifyPluginAsync<{ service: Service }> = async (app, { service }) => {
  const { rateLimit: limits } = service.config.server;
  const rateLimited = new Counter({
    name: 'pagefault_triage_http_rate_limited_total',
    help: 'Requests refused by the request rate limit (429, or 503 for webhooks with the token), by bucket.',
    labelNames: ['route'],
    registers: [service.metrics.registry],
  });
  for (const r of ['alerts', 'alerts_unauthorized', 'slack']) rateLimited.inc({ route: r }, 0);

  // global: false: the plugin adds no hooks of its own; the hook below decides which requests count.
  await app.register(rateLimit, { global: false });
  const timeWindow = limits.windowSeconds * 1000;
  const limiters: Record<Bucket, Limiter> = {
    alerts: app.createRateLimit({ max: limits.alerts, timeWindow, keyGenerator: (req) => `alerts|${req.ip}` }),
    alerts_unauthorized: app.createRateLimit({ max: limits.unauthorized, timeWindow, keyGenerator: (req) => `alerts-unauthorized|${req.ip}` }),
    slack: app.createRateLimit({ max: limits.slack, timeWindow, keyGenerator: (req) => `slack|${req.ip}` }),
  };
  const token = service.config.server.webhookToken;

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const route = limitedRoute(req);
    if (route === null) return;
    // The same constant-time check the route makes (auth.ts); the route still makes its own.
    const bucket: Bucket = route === 'alerts' && token !== undefined && !bearerMatches(req.headers.authorization, token) ? 'alerts_unauthorized' : route;
    const r = await limiters[bucket](req);
    if (r.isAllowed || !r.isExceeded) return;
    rateLimited.inc({ route: bucket });
    const seconds = Math.max(1, r.ttlInSeconds);
    req.log.warn({ route: bucket, ip: req.ip, max: r.max, windowSeconds: limits.windowSeconds }, 'request refused: rate limit');
    const message = `more than ${r.max} requests in ${limits.windowSeconds} s from this address; try again in ${seconds} s`;
    if (bucket === 'alerts') {
      // Possibly Alertmanager itself: a 5xx it retries, never a 4xx it would treat as final.
      return reply.code(503).header('retry-after', String(seconds)).send({ error: 'busy', message });
    }
    return reply.code(429).header('retry-after', String(seconds)).send({ error: 'too many requests', message });
  });

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
    return payload;
  });
};

export default fp(hardening, { name: 'pagefault-triage-hardening', fastify: '5.x' });
