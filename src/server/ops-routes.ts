import type { FastifyPluginAsync } from 'fastify';
import type { Service } from '../service.js';

/** GET /metrics, /-/healthy (the process answers), /-/ready (it takes webhooks, and Slack reaches it when it uses Socket Mode). */
export const opsRoutes: FastifyPluginAsync<{ service: Service }> = async (app, { service }) => {
  app.get('/metrics', async (_req, reply) => {
    const { registry } = service.metrics;
    return reply.type(registry.contentType).send(await registry.metrics());
  });
  app.get('/-/healthy', async (_req, reply) => reply.type('text/plain').send('OK\n'));
  app.get('/-/ready', async (_req, reply) => {
    if (!service.storeReachable()) return reply.code(503).type('text/plain').send(`the store (${service.store.kind}) is unreachable\n`);
    if (!service.ready()) return reply.code(503).type('text/plain').send('shutting down\n');
    // With Socket Mode, Slack reaches this replica only while its connection is up.
    if (service.slackSocket && !service.slackSocket.connected) return reply.code(503).type('text/plain').send('Slack Socket Mode is not connected\n');
    return reply.type('text/plain').send('OK\n');
  });
};
