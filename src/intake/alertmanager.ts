import { z } from 'zod';

/**
 * The Alertmanager webhook body, version 4 (prometheus/alertmanager notify/webhook). Only the
 * fields the bot uses are required; unknown keys are kept, since newer Alertmanagers add fields.
 */

const labels = z.record(z.string(), z.string());
const rfc3339 = z.iso.datetime({ offset: true, message: 'expected an RFC 3339 timestamp' });

export const webhookAlertSchema = z.looseObject({
  status: z.enum(['firing', 'resolved']),
  labels,
  annotations: labels.default({}),
  startsAt: rfc3339,
  /** `0001-01-01T00:00:00Z` while firing. */
  endsAt: rfc3339.optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().min(1).max(128),
});
export type WebhookAlert = z.infer<typeof webhookAlertSchema>;

export const webhookSchema = z.looseObject({
  version: z.literal('4', { message: 'only webhook version "4" is supported' }),
  groupKey: z.string().optional(),
  truncatedAlerts: z.number().int().nonnegative().default(0),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string().optional(),
  groupLabels: labels.default({}),
  commonLabels: labels.default({}),
  commonAnnotations: labels.default({}),
  externalURL: z.string().optional(),
  alerts: z.array(webhookAlertSchema),
});
export type Webhook = z.infer<typeof webhookSchema>;
