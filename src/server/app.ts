import type { FastifyError, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { alertsRoute } from '../intake/alerts-route.js';
import type { Service } from '../service.js';
import { slackRoutes } from '../intake/slack/routes.js';
import { isStoreError } from '../store/store-errors.js';
import hardening from './hardening.js';
import { indexRoute } from './index-route.js';
import { opsRoutes } from './ops-routes.js';
import { reportsRoutes } from './reports-routes.js';
import { triagesRoutes } from './triages-routes.js';

export interface AppOptions {
  service: Service;
}

/**
 * Everything the HTTP side has, as one plugin: server.ts registers it on a listening instance, tests
 * on a bare one and call `app.inject()`. Closing the app closes the service (graceful drain).
 */
const app: FastifyPluginAsync<AppOptions> = async (instance, { service }) => {
  instance.setErrorHandler((err: FastifyError, req, reply) => {
    if (isStoreError(err)) {
      // Disk full or read-only: the service stays up and says so; the caller may try again later.
      req.log.error({ err }, 'request failed: the store is unavailable');
      return reply.code(503).header('retry-after', '30').send({ error: 'store unavailable', message: 'the store cannot be written right now (disk full or read-only?); try again later' });
    }
    const status = err.statusCode ?? 500;
    if (status >= 500) req.log.error({ err }, 'request failed');
    // Only client errors show their message; a 5xx never leaks internals.
    return reply.code(status).send(status < 500 ? { error: 'bad request', message: err.message } : { error: 'internal error' });
  });
  instance.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not found' }));

  // Rate limits and security headers, for every route registered after it (SECURITY.md).
  await instance.register(hardening, { service });
  await instance.register(alertsRoute, { service });
  await instance.register(triagesRoutes, { service });
  await instance.register(reportsRoutes, { service });
  await instance.register(indexRoute, { service });
  await instance.register(opsRoutes, { service });
  await instance.register(slackRoutes, { service });

  instance.addHook('onClose', async () => service.close());
};

export default fp(app, { name: 'pagefault-triage', fastify: '5.x' });
