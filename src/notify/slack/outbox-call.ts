import { z } from 'zod';
import { slackMessageSchema } from '../../model/slack.js';

/**
 * A Slack call as the outbox records it. Where it goes is partly decided when it is made: a verdict
 * updates the triage's message if that was posted by then (else it is posted itself), and a reply
 * threads under it. So a verdict never needs its start message to have succeeded first.
 */
export const outboxCallSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('message'),
    /** Where to post when there is no triage message to update or thread under. */
    channel: z.string(),
    /** Post in this thread (the thread a "Run again" was pressed in). */
    threadTs: z.string().nullable(),
    /** Reply under the triage's own message (resolved alert). */
    inTriageThread: z.boolean(),
    /** chat.update the triage's message when it has one (the verdict replaces the start message). */
    updateTriageMessage: z.boolean(),
    /** The posted message is the triage's message: remember its channel and ts. */
    isTriageMessage: z.boolean(),
    message: slackMessageSchema,
  }),
  z.object({
    kind: z.literal('respond'),
    /** A response_url Slack gave with a command or a button press (hooks.slack.com). */
    url: z.string(),
    body: z.object({ response_type: z.literal('ephemeral'), replace_original: z.boolean(), text: z.string() }),
  }),
]);

export type OutboxCall = z.infer<typeof outboxCallSchema>;
export type MessageCall = Extract<OutboxCall, { kind: 'message' }>;
