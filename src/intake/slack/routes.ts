import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { SlackConfig } from '../../config/schema.js';
import type { SlackRequestOutcome } from '../../metrics.js';
import type { Service } from '../../service.js';
import { isStoreError } from '../../store/store-errors.js';
import { WINDOW_MAX, WINDOW_MIN, parseCommand } from './command.js';
import { admissionAnswer, helpAnswer, lastAnswer, nodesAnswer, refusalAnswer, type AnswerContext } from './answers.js';
import { OPEN_REPORT_ACTION, RUN_AGAIN_ACTION } from '../../notify/slack/messages.js';
import { checkSlackHeaders, verifySlackRequest } from './verify-request.js';

/**
 * POST /slack/commands (the slash command) and POST /slack/interactions (buttons). Every request is
 * checked against slack.signingSecret on its raw bytes before anything else; anything unsigned,
 * wrongly signed or older than five minutes gets 401 and nothing runs. Slack wants an answer within
 * 3 s: these routes only validate, queue and answer; the triage is posted when it runs.
 */

/** Slack's payloads are small; a button press carries the message it was on (at most ~50 blocks). */
const SLACK_BODY_LIMIT = 256 * 1024;

const windowSeconds = z.number().int().min(WINDOW_MIN).max(WINDOW_MAX);
const runAgainValue = z.object({ node: z.string(), sampleSeconds: windowSeconds.optional(), captureSeconds: windowSeconds.optional() });

/** The parts of a block_actions payload the bot reads (Slack sends many more). */
const interactionSchema = z.looseObject({
  type: z.string(),
  user: z.looseObject({ id: z.string() }),
  channel: z.looseObject({ id: z.string() }).nullish(),
  message: z.looseObject({ ts: z.string(), thread_ts: z.string().optional() }).nullish(),
  response_url: z.string().optional(),
  actions: z.array(z.looseObject({ action_id: z.string(), value: z.string().optional() })).default([]),
});

type Route = 'commands' | 'interactions';

export const slackRoutes: FastifyPluginAsync<{ service: Service }> = async (app, { service }) => {
  const { config, metrics } = service;
  const slack = config.slack;
  const count = (route: Route, outcome: SlackRequestOutcome) => metrics.slackRequests.inc({ route, outcome });

  if (!slack) {
    const off = async (_req: FastifyRequest, reply: FastifyReply) =>
      reply.code(404).send({ error: 'not found', message: 'Slack is not configured: add a slack block to the configuration' });
    app.post('/slack/commands', off);
    app.post('/slack/interactions', off);
    return;
  }

  // The signature covers the exact bytes: keep them, whatever the content type says.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: SLACK_BODY_LIMIT }, (_req, body, done) => done(null, body));

  const unauthorized = (route: Route, req: FastifyRequest, reply: FastifyReply, reason: string, message: string) => {
    count(route, 'unauthorized');
    req.log.warn({ route, reason }, `Slack request refused: ${message}`);
    return reply.code(401).send({ error: 'unauthorized', message: 'not a valid Slack request' });
  };

  const routeOf = (req: FastifyRequest): Route => (req.url.startsWith('/slack/interactions') ? 'interactions' : 'commands');

  // Missing headers or a stale timestamp: refused before the body is even read.
  app.addHook('onRequest', async (req, reply) => {
    const early = checkSlackHeaders(req.headers, Date.now());
    if (!early.ok) return unauthorized(routeOf(req), req, reply, early.reason, early.message);
  });

  /** Verifies, then hands over the form fields. Undefined when the request was answered already. */
  const verified = (route: Route, req: FastifyRequest, reply: FastifyReply): URLSearchParams | undefined => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const check = verifySlackRequest(slack.signingSecret, req.headers, raw, Date.now());
    if (!check.ok) {
      void unauthorized(route, req, reply, check.reason, check.message);
      return undefined;
    }
    return new URLSearchParams(raw.toString('utf8'));
  };

  const ctx: AnswerContext = {
    command: slack.command,
    nodes: config.nodes.map((n) => n.name),
    sampleSeconds: config.playbook.sampleSeconds,
    captureSeconds: config.playbook.captureSeconds,
    restricted: slack.allowedUsers.length > 0,
  };
  const ephemeral = (reply: FastifyReply, text: string) => reply.code(200).send({ response_type: 'ephemeral', text });

  app.post('/slack/commands', async (req, reply) => {
    const form = verified('commands', req, reply);
    if (!form) return reply;
    if (form.get('ssl_check') === '1') return reply.code(200).send();
    const user = form.get('user_id');
    const channel = form.get('channel_id');
    if (!user) {
      count('commands', 'invalid');
      return reply.code(400).send({ error: 'bad request', message: 'user_id is missing' });
    }
    const text = form.get('text') ?? '';
    const cmd = parseCommand(text, ctx.nodes);
    req.log.info({ route: 'commands', user, channel, command: cmd.kind }, 'Slack command');
    if (cmd.kind === 'help') {
      count('commands', 'accepted');
      // Help works for everyone, but the inventory is only for those who may use it.
      return ephemeral(reply, helpAnswer(ctx, allowed(slack, user)));
    }
    if (!allowed(slack, user)) {
      count('commands', 'refused');
      req.log.warn({ user }, 'Slack command refused: user not in slack.allowedUsers');
      return ephemeral(reply, refusalAnswer(ctx, { kind: 'not_allowed' }));
    }
    switch (cmd.kind) {
      case 'nodes': {
        count('commands', 'accepted');
        const lines = config.nodes.map((n) => ({ name: n.name, local: n.local === true, last: finishedOf(service, n.name) }));
        return ephemeral(reply, nodesAnswer(ctx, lines));
      }
      case 'last': {
        count('commands', 'accepted');
        const newest = service.listTriages({ node: cmd.node, limit: 1 })[0];
        const current = newest && (newest.status === 'queued' || newest.status === 'running') ? newest : null;
        return ephemeral(reply, lastAnswer(ctx, cmd.node, finishedOf(service, cmd.node), current));
      }
      case 'triage': {
        if (!service.ready()) {
          count('commands', 'refused');
          return ephemeral(reply, refusalAnswer(ctx, { kind: 'shutting_down' }));
        }
        let admission;
        try {
          admission = service.requestTriage(cmd.node, { kind: 'slack', user, channel: channel || null }, cmd.options);
        } catch (err) {
          if (!isStoreError(err)) throw err;
          // Slack shows a bare HTTP error as "failed with the error http_service_error": say what happened, privately.
          count('commands', 'refused');
          req.log.error({ err, node: cmd.node }, 'Slack command refused: the store cannot be written');
          return ephemeral(reply, refusalAnswer(ctx, { kind: 'store_unavailable' }));
        }
        count('commands', 'accepted');
        return ephemeral(reply, admissionAnswer(ctx, admission, 'channel'));
      }
      default:
        count('commands', 'invalid');
        return ephemeral(reply, refusalAnswer(ctx, cmd));
    }
  });

  app.post('/slack/interactions', async (req, reply) => {
    const form = verified('interactions', req, reply);
    if (!form) return reply;
    let payload: z.infer<typeof interactionSchema>;
    try {
      const parsed = interactionSchema.safeParse(JSON.parse(form.get('payload') ?? ''));
      if (!parsed.success) throw new Error(parsed.error.message);
      payload = parsed.data;
    } catch {
      count('interactions', 'invalid');
      return reply.code(400).send({ error: 'bad request', message: 'the payload field is not an interaction payload' });
    }
    const action = payload.actions[0];
    // Open report is a link button: Slack still tells us, and only needs the acknowledgement.
    if (payload.type !== 'block_actions' || !action || action.action_id !== RUN_AGAIN_ACTION) {
      count('interactions', 'accepted');
      if (action && action.action_id !== OPEN_REPORT_ACTION) req.log.debug({ type: payload.type, action: action.action_id }, 'Slack interaction ignored');
      return reply.code(200).send();
    }
    const user = payload.user.id;
    const answer = (text: string) => {
      if (payload.response_url) service.slack?.respond(payload.response_url, text);
    };
    const value = runAgainValue.safeParse(safeJson(action.value));
    const node = value.success ? config.nodes.find((n) => n.name === value.data.node) : undefined;
    req.log.info({ route: 'interactions', user, action: action.action_id, node: node?.name ?? null }, 'Slack button');
    if (!value.success || !node) {
      count('interactions', 'invalid');
      answer(refusalAnswer(ctx, { kind: 'bad_button' }));
    } else if (!allowed(slack, user)) {
      count('interactions', 'refused');
      req.log.warn({ user }, 'Run again refused: user not in slack.allowedUsers');
      answer(refusalAnswer(ctx, { kind: 'not_allowed' }));
    } else if (!service.ready()) {
      count('interactions', 'refused');
      answer(refusalAnswer(ctx, { kind: 'shutting_down' }));
    } else {
      count('interactions', 'accepted');
      // The thread only means something in its own channel (a button outside a channel posts to slack.channel).
      const threadTs = payload.message && payload.channel ? (payload.message.thread_ts ?? payload.message.ts) : undefined;
      const { sampleSeconds, captureSeconds } = value.data;
      const admission = service.requestTriage(
        node.name,
        { kind: 'button', user, channel: payload.channel?.id ?? null, ...(threadTs ? { threadTs } : {}) },
        { ...(sampleSeconds ? { sampleSeconds } : {}), ...(captureSeconds ? { captureSeconds } : {}) },
      );
      // Queued: the start message in the thread is the answer. Otherwise say why nothing started.
      if (admission.status !== 'queued') answer(admissionAnswer(ctx, admission, 'thread'));
    }
    return reply.code(200).send();
  });
};

function allowed(slack: SlackConfig, user: string): boolean {
  return slack.allowedUsers.length === 0 || slack.allowedUsers.includes(user);
}

/** The node's newest triage that has a verdict. */
function finishedOf(service: Service, node: string) {
  return service.listTriages({ node, limit: 20 }).find((t) => t.status === 'done' || t.status === 'failed') ?? null;
}

function safeJson(s: string | undefined): unknown {
  try {
    return s === undefined ? undefined : JSON.parse(s);
  } catch {
    return undefined;
  }
}
