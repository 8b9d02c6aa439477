import { z } from 'zod';
import { prometheusContextSchema } from './prometheus-context.js';
import { verdictKindSchema } from './verdict.js';

/**
 * What the bot knew around a triage besides the node itself: the node's earlier triages (from the store), and
 * later the hour before the alert (from Prometheus). Stored with the triage and shown by GET /triages/:id.
 */

/** How far back the node's earlier triages are looked up. */
export const HISTORY_DAYS = 7;
/** At most this many earlier triages are carried. */
export const HISTORY_MAX = 20;

export const historyEntrySchema = z.object({
  id: z.string(),
  finishedAt: z.string(),
  kind: verdictKindSchema,
  pid: z.number().int().nullable(),
  comm: z.string().nullable(),
  path: z.string().nullable(),
});
export type HistoryEntry = z.infer<typeof historyEntrySchema>;

export const triageContextSchema = z.object({
  /** The node's earlier finished triages in the last HISTORY_DAYS days, newest first. */
  history: z.array(historyEntrySchema),
  /** The node's series over prometheus.lookbackMinutes before the triage, or why they could not be read. Absent without prometheus.url. */
  prometheus: prometheusContextSchema.optional(),
});
export type TriageContext = z.infer<typeof triageContextSchema>;

/** Verdicts that name a culprit worth comparing with the next one. */
const NAMES_A_CULPRIT = new Set(['swap-thrash', 'mmap-read', 'code-reread', 'mixed']);

/**
 * How this triage's culprit compares with the newest earlier one that named a culprit: the same process (pid and
 * comm), the same program under another pid (comm, and path when there is one), or another one. Null when there is
 * nothing to compare.
 */
export function sameCulprit(
  now: { kind: string; pid: number | null; comm: string | null; path: string | null },
  history: readonly HistoryEntry[],
): { entry: HistoryEntry; same: 'process' | 'program' | 'other' } | null {
  if (!NAMES_A_CULPRIT.has(now.kind) || now.comm === null) return null;
  const entry = history.find((h) => NAMES_A_CULPRIT.has(h.kind) && h.comm !== null);
  if (!entry) return null;
  const samePath = (entry.path ?? null) === (now.path ?? null);
  if (entry.comm === now.comm && entry.pid === now.pid && samePath) return { entry, same: 'process' };
  if (entry.comm === now.comm && samePath) return { entry, same: 'program' };
  return { entry, same: 'other' };
}

/** An earlier triage with the link to its report, as the report and Slack show it. */
export type LinkedHistoryEntry = HistoryEntry & { reportUrl: string };
