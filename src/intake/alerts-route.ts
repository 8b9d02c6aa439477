import type { FastifyError, FastifyPluginAsync } from 'fastify';
import { formatIssues, formatPath } from '../config/load.js';
import type { IntakeService } from './intake-service.js';
import { isStoreError } from '../store/store-errors.js';
import { webhookSchema } from './alertmanager.js';
import { bearerMatches } from './auth.js';

/**
 * POST /alerts: authenticate, validate, admit, answer 202. It never waits for a triage.
 * Alertmanager retries 5xx and gives up on 4xx, so only "try later" answers are 5xx.
 */
export const alertsRoute: FastifyPluginAsync<{ service: IntakeService }> = async (app, { service }) => {
  const { config, metrics } = service;
  const token = config.server.webhookToken;

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status === 413) {
      metrics.webhooks.inc({ outcome: 'too_large' });
      req.log.warn({ outcome: 'too_large', limit: config.server.bodyLimitBytes }, 'webhook refused: body too large');
      return reply.code(413).send({ error: 'body too large', message: `the body is over server.bodyLimitBytes (${config.server.bodyLimitBytes} bytes)` });
    }
    if (status < 500) {
      metrics.webhooks.inc({ outcome: 'invalid' });
      req.log.warn({ outcome: 'invalid', err: err.message }, 'webhook refused');
      return reply.code(status).send({ error: 'bad request', message: err.message });
    }
    metrics.webhooks.inc({ outcome: 'error' });
    req.log.error({ outcome: 'error', err }, 'webhook failed');
    return reply.code(500).send({ error: 'internal error', message: 'the webhook could not be processed; Alertmanager will retry' });
  });

  app.post('/alerts', {
    bodyLimit: config.server.bodyLimitBytes,
    // Before the body is read: an unauthenticated sender cannot make the bot parse anything.
    onRequest: async (req, reply) => {
      if (token === undefined || bearerMatches(req.headers.authorization, token)) return;
      metrics.webhooks.inc({ outcome: 'unauthorized' });
      req.log.warn({ outcome: 'unauthorized', hasAuthorization: req.headers.authorization !== undefined }, 'webhook refused: bad or missing bearer token');
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="pagefault-triage"')
        .send({ error: 'unauthorized', message: 'POST /alerts needs Authorization: Bearer <server.webhookToken>' });
    },
  }, async (req, reply) => {
    if (!service.storeReachable()) {
      metrics.webhooks.inc({ outcome: 'unavailable' });
      req.log.warn({ outcome: 'unavailable' }, 'webhook refused: the store is unreachable');
      return reply.code(503).header('retry-after', '10').send({ error: 'store unavailable', message: 'the bot cannot record alerts right now (its store is unreachable); Alertmanager will retry' });
    }
    if (!service.ready()) {
      metrics.webhooks.inc({ outcome: 'unavailable' });
      req.log.warn({ outcome: 'unavailable' }, 'webhook refused: shutting down');
      return reply.code(503).header('retry-after', '10').send({ error: 'unavailable', message: 'the bot is shutting down; Alertmanager will retry' });
    }
    const parsed = webhookSchema.safeParse(req.body);
    if (!parsed.success) {
      metrics.webhooks.inc({ outcome: 'invalid' });
      const message = formatIssues(parsed.error);
      req.log.warn({ outcome: 'invalid', issues: message }, 'webhook refused: invalid body');
      return reply.code(400).send({
        error: 'invalid webhook',
        message,
        issues: parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
      });
    }
    let answer;
    try {
      answer = await service.receiveWebhook(parsed.data);
    } catch (err) {
      if (!isStoreError(err)) throw err;
      // Nothing was recorded (one transaction per webhook): a 5xx makes Alertmanager send it again.
      metrics.webhooks.inc({ outcome: 'unavailable' });
      req.log.error({ outcome: 'unavailable', err }, 'webhook refused: the store cannot be written');
      return reply
        .code(503)
        .header('retry-after', '30')
        .send({ error: 'store unavailable', message: 'the bot cannot record alerts right now (its store is unreachable, full or read-only); Alertmanager will retry' });
    }
    metrics.webhooks.inc({ outcome: 'accepted' });
    req.log.info(
      {
        outcome: 'accepted',
        groupKey: parsed.data.groupKey,
        alerts: parsed.data.alerts.length,
        triages: answer.triages.map((t) => ({ triageId: t.id, node: t.node, status: t.status })),
        ignored: answer.ignored.length,
      },
      'webhook accepted',
    );
    return reply.code(202).send(answer);
  });
};
