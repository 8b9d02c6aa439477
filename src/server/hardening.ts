import rateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';
import type { Service } from '../service.js';

/**
 * What every route gets, whoever wrote it (registered by app.ts before any route):
 *
 * - request rate limits on the routes anyone on the network can call: POST /alerts and everything under /slack/,
 *   per client address (server.rateLimit). Past the limit: 429 with Retry-After, before authentication and before
 *   the body is parsed, so a flood costs the bot a map lookup per request. Alertmanager treats a 4xx as final,
 *   so the default is far above what it sends (one notification per group per group_interval, plus retries).
 * - response headers: nosniff, no referrer, no framing, and a deny-all CSP on anything that does not set its
 *   own (the report page sets one that allows its inline styles, never a script).
 */

type Limiter = ReturnType<import('fastify').FastifyInstance['createRateLimit']>;

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
    help: 'Requests answered 429 by the request rate limit, by route group.',
    labelNames: ['route'],
    registers: [service.metrics.registry],
  });
  for (const r of ['alerts', 'slack']) rateLimited.inc({ route: r }, 0);

  // global: false: the plugin adds no hooks of its own; the hook below decides which requests count.
  await app.register(rateLimit, { global: false });
  const timeWindow = limits.windowSeconds * 1000;
  const limiters: Record<'alerts' | 'slack', Limiter> = {
    alerts: app.createRateLimit({ max: limits.alerts, timeWindow, keyGenerator: (req) => `alerts|${req.ip}` }),
    slack: app.createRateLimit({ max: limits.slack, timeWindow, keyGenerator: (req) => `slack|${req.ip}` }),
  };

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const route = limitedRoute(req);
    if (route === null) return;
    const r = await limiters[route](req);
    if (r.isAllowed || !r.isExceeded) return;
    rateLimited.inc({ route });
    const seconds = Math.max(1, r.ttlInSeconds);
    req.log.warn({ route, ip: req.ip, max: r.max, windowSeconds: limits.windowSeconds }, 'request refused: rate limit');
    return reply
      .code(429)
      .header('retry-after', String(seconds))
      .send({ error: 'too many requests', message: `more than ${r.max} requests in ${limits.windowSeconds} s from this address; try again in ${seconds} s` });
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
