import { z } from 'zod';
import { nodeInfoSchema } from './facts.js';
import { analysisSchema, verdictSchema } from './verdict.js';

/** What started a triage. Alert fields are kept for the report and dedup, never sent to a node. */
export const triggerSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('alert'),
    alertname: z.string(),
    fingerprint: z.string(),
    startsAt: z.string(),
    labels: z.record(z.string(), z.string()),
    annotations: z.record(z.string(), z.string()),
  }),
  z.object({ kind: z.literal('cli') }),
  z.object({ kind: z.literal('slack'), user: z.string(), channel: z.string().nullable() }),
  /** "Run again": `threadTs` is the thread the pressed message belongs to; the new triage posts there. */
  z.object({ kind: z.literal('button'), user: z.string(), channel: z.string().nullable(), threadTs: z.string().optional() }),
]);
export type Trigger = z.infer<typeof triggerSchema>;

export const stepNameSchema = z.enum(['connect', 'rank', 'capture', 'resolve', 'analysis']);
export type StepName = z.infer<typeof stepNameSchema>;

export const stepTimingSchema = z.object({ step: stepNameSchema, ms: z.number() });
export type StepTiming = z.infer<typeof stepTimingSchema>;

/** The outcome of running the pipeline once against a node. */
export const triageResultSchema = z.object({
  node: z.string(),
  /** ssh host, or "local". */
  address: z.string(),
  trigger: triggerSchema,
  startedAt: z.string(),
  finishedAt: z.string(),
  window: z.object({ sampleSeconds: z.number(), captureSeconds: z.number() }),
  timings: z.array(stepTimingSchema),
  nodeInfo: nodeInfoSchema.nullable(),
  verdict: verdictSchema,
  analysis: analysisSchema.nullable(),
});
export type TriageResult = z.infer<typeof triageResultSchema>;
