import { z } from 'zod';
import { WINDOW_SECONDS } from './limits.js';

/**
 * What the bot's Slack messages and the requests Slack sends back have in common: the buttons' action ids and
 * the value "Run again" carries (rendered by report/slack, read by intake/slack), and a message as the outbox
 * records and delivers it (blocks are Block Kit JSON; their types stay with the renderer).
 */

export const RUN_AGAIN_ACTION = 'run_again';
export const OPEN_REPORT_ACTION = 'open_report';

const windowSeconds = z.number().int().min(WINDOW_SECONDS.min).max(WINDOW_SECONDS.max);

/** "Run again" carries the node and the windows of the triage it repeats. */
export const runAgainValueSchema = z.object({
  node: z.string(),
  sampleSeconds: windowSeconds.optional(),
  captureSeconds: windowSeconds.optional(),
});
export type RunAgainValue = z.infer<typeof runAgainValueSchema>;

export const slackMessageSchema = z.object({ text: z.string(), blocks: z.array(z.unknown()) });
/** A message: blocks, and the plain `text` Slack shows in notifications and where blocks cannot be shown. */
export type SlackMessage = z.infer<typeof slackMessageSchema>;
