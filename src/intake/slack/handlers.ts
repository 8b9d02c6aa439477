import { z } from 'zod';
import type { SlackConfig } from '../../config/schema.js';
import type { Log } from '../../log.js';
import type { SlackRequestOutcome } from '../../metrics.js';
import { OPEN_REPORT_ACTION, RUN_AGAIN_ACTION, runAgainValueSchema } from '../../model/slack.js';
import type { TriageView } from '../../model/triage.js';
import { isStoreError } from '../../store/store-errors.js';
import { admissionAnswer, helpAnswer, lastAnswer, nodesAnswer, refusalAnswer, type AnswerContext } from '../../report/slack/answers.js';
import type { IntakeService } from '../intake-service.js';
import { parseCommand } from './command.js';

/**
 * The slash command and the buttons, whatever carried them (an HTTP request Slack signed, or an envelope on a
 * Socket Mode connection): the request's fields in, what to answer out. The transports verify, acknowledge
 * and count; these decide. They only validate, queue and answer: the triage is posted when it runs.
 */

export type SlackRoute = 'commands' | 'interactions';

/** What to answer Slack: an ephemeral text to the person who asked, nothing (a bare 200/ack), or a bad request. */
export type SlackReply =
  | { kind: 'ephemeral'; text: string }
  | { kind: 'empty' }
  | { kind: 'invalid'; message: string };

/** The parts of a block_actions payload the bot reads (Slack sends many more). */
export const interactionSchema = z.looseObject({
  type: z.string(),
  user: z.looseObject({ id: z.string() }),
  channel: z.looseObject({ id: z.string() }).nullish(),
  message: z.looseObject({ ts: z.string(), thread_ts: z.string().optional() }).nullish(),
  response_url: z.string().optional(),
  actions: z.array(z.looseObject({ action_id: z.string(), value: z.string().optional() })).default([]),
});

export interface SlackHandlers {
  command(fields: URLSearchParams, log: Log): Promise<SlackReply>;
  interaction(payload: unknown, log: Log): Promise<SlackReply>;
}

/**
 * What makes two deliveries of one Slack request the same: its trigger id (a person's one click or command), else
 * the Socket Mode envelope id. Slack resends a request it got no timely answer to (HTTP `X-Slack-Retry-Num`, an
 * unacknowledged envelope), perhaps to another replica.
 */
export function deliveryKey(body: unknown, envelopeId: string | null): string | null {
  const trigger = typeof body === 'object' && body !== null ? (body as { trigger_id?: unknown }).trigger_id : undefined;
  if (typeof trigger === 'string' && trigger !== '') return `trigger:${trigger}`;
  return envelopeId === null ? null : `envelope:${envelopeId}`;
}

export function slackHandlers(service: IntakeService, slack: SlackConfig): SlackHandlers {
  const { config, metrics } = service;
  const count = (route: SlackRoute, outcome: SlackRequestOutcome) => metrics.slackRequests.inc({ route, outcome });
  const ctx: AnswerContext = {
    command: slack.command,
    nodes: config.nodes.map((n) => n.name),
    sampleSeconds: config.playbook.sampleSeconds,
    captureSeconds: config.playbook.captureSeconds,
    restricted: slack.allowedUsers.length > 0,
  };
  const ephemeral = (text: string): SlackReply => ({ kind: 'ephemeral', text });
  const allowed = (user: string) => slack.allowedUsers.length === 0 || slack.allowedUsers.includes(user);
  /** The node's newest triage that has a verdict. */
  const finishedOf = async (node: string): Promise<TriageView | null> =>
    (await service.listTriages({ node, limit: 20 })).find((t) => t.status === 'done' || t.status === 'failed') ?? null;

  return {
    async command(form, log) {
      if (form.get('ssl_check') === '1') return { kind: 'empty' };
      const user = form.get('user_id');
      const channel = form.get('channel_id');
      if (!user) {
        count('commands', 'invalid');
        return { kind: 'invalid', message: 'user_id is missing' };
      }
      const cmd = parseCommand(form.get('text') ?? '', ctx.nodes);
      log.info({ route: 'commands', user, channel, command: cmd.kind }, 'Slack command');
      if (cmd.kind === 'help') {
        count('commands', 'accepted');
        // Help works for everyone, but the inventory is only for those who may use it.
        return ephemeral(helpAnswer(ctx, allowed(user)));
      }
      if (!allowed(user)) {
        count('commands', 'refused');
        log.warn({ user }, 'Slack command refused: user not in slack.allowedUsers');
        return ephemeral(refusalAnswer(ctx, { kind: 'not_allowed' }));
      }
      switch (cmd.kind) {
        case 'nodes': {
          count('commands', 'accepted');
          const lines = [];
          for (const n of config.nodes) lines.push({ name: n.name, local: n.local === true, last: await finishedOf(n.name) });
          return ephemeral(nodesAnswer(ctx, lines));
        }
        case 'last': {
          count('commands', 'accepted');
          const newest = (await service.listTriages({ node: cmd.node, limit: 1 }))[0];
          const current = newest && (newest.status === 'queued' || newest.status === 'running') ? newest : null;
          return ephemeral(lastAnswer(ctx, cmd.node, await finishedOf(cmd.node), current));
        }
        case 'triage': {
          // Shutting down (a store that is away is found out by the admission below, which says so).
          if (!service.ready() && service.storeReachable()) {
            count('commands', 'refused');
            return ephemeral(refusalAnswer(ctx, { kind: 'shutting_down' }));
          }
          let admission;
          try {
            admission = await service.requestTriage(cmd.node, { kind: 'slack', user, channel: channel || null }, cmd.options);
          } catch (err) {
            if (!isStoreError(err)) throw err;
            // Slack shows a bare HTTP error as "failed with the error http_service_error": say what happened, privately.
            count('commands', 'refused');
            log.error({ err, node: cmd.node }, 'Slack command refused: the store cannot be written');
            return ephemeral(refusalAnswer(ctx, { kind: 'store_unavailable' }));
          }
          count('commands', 'accepted');
          return ephemeral(admissionAnswer(ctx, admission, 'channel'));
        }
        default:
          count('commands', 'invalid');
          return ephemeral(refusalAnswer(ctx, cmd));
      }
    },

    async interaction(raw, log) {
      const parsed = interactionSchema.safeParse(raw);
      if (!parsed.success) {
        count('interactions', 'invalid');
        return { kind: 'invalid', message: 'the payload field is not an interaction payload' };
      }
      const payload = parsed.data;
      const action = payload.actions[0];
      // Open report is a link button: Slack still tells us, and only needs the acknowledgement.
      if (payload.type !== 'block_actions' || !action || action.action_id !== RUN_AGAIN_ACTION) {
        count('interactions', 'accepted');
        if (action && action.action_id !== OPEN_REPORT_ACTION) log.debug({ type: payload.type, action: action.action_id }, 'Slack interaction ignored');
        return { kind: 'empty' };
      }
      const user = payload.user.id;
      // A button's answer goes back through its response_url: the message it was on stays as it is.
      const answer = (text: string) => {
        if (payload.response_url) service.respond(payload.response_url, text);
      };
      const value = runAgainValueSchema.safeParse(safeJson(action.value));
      const node = value.success ? config.nodes.find((n) => n.name === value.data.node) : undefined;
      log.info({ route: 'interactions', user, action: action.action_id, node: node?.name ?? null }, 'Slack button');
      if (!value.success || !node) {
        count('interactions', 'invalid');
        answer(refusalAnswer(ctx, { kind: 'bad_button' }));
      } else if (!allowed(user)) {
        count('interactions', 'refused');
        log.warn({ user }, 'Run again refused: user not in slack.allowedUsers');
        answer(refusalAnswer(ctx, { kind: 'not_allowed' }));
      } else if (!service.ready() && service.storeReachable()) {
        count('interactions', 'refused');
        answer(refusalAnswer(ctx, { kind: 'shutting_down' }));
      } else {
        count('interactions', 'accepted');
        // The thread only means something in its own channel (a button outside a channel posts to slack.channel).
        const threadTs = payload.message && payload.channel ? (payload.message.thread_ts ?? payload.message.ts) : undefined;
        const { sampleSeconds, captureSeconds } = value.data;
        let admission;
        try {
          admission = await service.requestTriage(
            node.name,
            { kind: 'button', user, channel: payload.channel?.id ?? null, ...(threadTs ? { threadTs } : {}) },
            { ...(sampleSeconds ? { sampleSeconds } : {}), ...(captureSeconds ? { captureSeconds } : {}) },
          );
        } catch (err) {
          if (!isStoreError(err)) throw err;
          log.error({ err, node: node.name }, 'Run again refused: the store cannot be written');
          answer(refusalAnswer(ctx, { kind: 'store_unavailable' }));
          return { kind: 'empty' };
        }
        // Queued: the start message in the thread is the answer. Otherwise say why nothing started.
        if (admission.status !== 'queued') answer(admissionAnswer(ctx, admission, 'thread'));
      }
      return { kind: 'empty' };
    },
  };
}

function safeJson(s: string | undefined): unknown {
  try {
    return s === undefined ? undefined : JSON.parse(s);
  } catch {
    return undefined;
  }
}
