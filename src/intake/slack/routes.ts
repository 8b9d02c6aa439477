import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { IntakeService } from '../intake-service.js';
import { isStoreError } from '../../store/store-errors.js';
import { deliveryKey, slackHandlers, type SlackReply, type SlackRoute } from './handlers.js';
import { checkSlackHeaders, verifySlackRequest } from './verify-request.js';

/**
 * POST /slack/commands (the slash command) and POST /slack/interactions (buttons): the HTTP transport of
 * handlers.ts. Every request is checked against slack.signingSecret on its raw bytes before anything else;
 * anything unsigned, wrongly signed or older than five minutes gets 401 and nothing runs. Slack wants an
 * answer within 3 s: the handlers only validate, queue and answer.
 */

/** Slack's payloads are small; a button press carries the message it was on (at most ~50 blocks). */
const SLACK_BODY_LIMIT = 256 * 1024;

export const slackRoutes: FastifyPluginAsync<{ service: IntakeService }> = async (app, { service }) => {
  const { config, metrics } = service;
  const slack = config.slack;

  // The signature covers the exact bytes: keep them, whatever the content type says.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: SLACK_BODY_LIMIT }, (_req, body, done) => done(null, body));

  // With Socket Mode and no signing secret, Slack never comes in over HTTP: the routes are off.
  const signingSecret = slack?.signingSecret;
  if (!slack || signingSecret === undefined) {
    const message = slack
      ? 'Slack comes in over Socket Mode here: set slack.signingSecret to take Slack requests over HTTP as well'
      : 'Slack is not configured: add a slack block to the configuration';
    const off = async (_req: FastifyRequest, reply: FastifyReply) => reply.code(404).send({ error: 'not found', message });
    app.post('/slack/commands', off);
    app.post('/slack/interactions', off);
    return;
  }
  const handlers = slackHandlers(service, slack);

  const unauthorized = (route: SlackRoute, req: FastifyRequest, reply: FastifyReply, reason: string, message: string) => {
    metrics.slackRequests.inc({ route, outcome: 'unauthorized' });
    req.log.warn({ route, reason }, `Slack request refused: ${message}`);
    return reply.code(401).send({ error: 'unauthorized', message: 'not a valid Slack request' });
  };

  const routeOf = (req: FastifyRequest): SlackRoute => (req.url.startsWith('/slack/interactions') ? 'interactions' : 'commands');

  // Missing headers or a stale timestamp: refused before the body is even read.
  app.addHook('onRequest', async (req, reply) => {
    const early = checkSlackHeaders(req.headers, Date.now());
    if (!early.ok) return unauthorized(routeOf(req), req, reply, early.reason, early.message);
  });

  /** Verifies, then hands over the form fields. Undefined when the request was answered already. */
  const verified = (route: SlackRoute, req: FastifyRequest, reply: FastifyReply): URLSearchParams | undefined => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const check = verifySlackRequest(signingSecret, req.headers, raw, Date.now());
    if (!check.ok) {
      void unauthorized(route, req, reply, check.reason, check.message);
      return undefined;
    }
    return new URLSearchParams(raw.toString('utf8'));
  };

  const send = (reply: FastifyReply, answer: SlackReply) => {
    switch (answer.kind) {
      case 'ephemeral':
        return reply.code(200).send({ response_type: 'ephemeral', text: answer.text });
      case 'empty':
        return reply.code(200).send();
      case 'invalid':
        return reply.code(400).send({ error: 'bad request', message: answer.message });
    }
  };

  /**
   * A request Slack resends (`X-Slack-Retry-Num`, or a second click that Slack gave the same trigger id) is handled
   * once across replicas: the repeat gets the first answer. When the store cannot record the key, it cannot record
   * a triage either: the request is handled without it, and its answer says the store is unavailable.
   */
  const once = async (reply: FastifyReply, req: FastifyRequest, body: unknown, handle: () => Promise<SlackReply>) => {
    const key = deliveryKey(body, null);
    if (key === null) return send(reply, await handle());
    let result;
    try {
      result = await service.handleOnce(key, async () => JSON.stringify(await handle()));
    } catch (err) {
      if (!isStoreError(err)) throw err;
      req.log.error({ err, key }, 'Slack request handled without its key: the store cannot record it');
      return send(reply, await handle());
    }
    if (!result.first) req.log.info({ key, retry: req.headers['x-slack-retry-num'] ?? null }, 'Slack sent this request again; answered as the first time, nothing started twice');
    return send(reply, result.answer === null ? { kind: 'empty' } : (JSON.parse(result.answer) as SlackReply));
  };

  app.post('/slack/commands', async (req, reply) => {
    const form = verified('commands', req, reply);
    if (!form) return reply;
    return once(reply, req, Object.fromEntries(form), () => handlers.command(form, req.log));
  });

  app.post('/slack/interactions', async (req, reply) => {
    const form = verified('interactions', req, reply);
    if (!form) return reply;
    let payload: unknown;
    try {
      payload = JSON.parse(form.get('payload') ?? '');
    } catch {
      payload = undefined;
    }
    return once(reply, req, payload, () => handlers.interaction(payload, req.log));
  });
};
