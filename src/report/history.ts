import { sameCulprit, type LinkedHistoryEntry } from '../model/context.js';
import type { Verdict } from '../model/verdict.js';

/**
 * "Has this node done this before?": the node's earlier triages as the report and Slack show them. Pure: the
 * earlier triages (newest first), this one's verdict and time in; counts, the comparison with the last culprit
 * and the list out. Strings from the node (comm, path) stay raw here: each renderer escapes them.
 */

const DAY_MS = 86_400_000;

export interface HistoryView {
  /** This triage's place among the node's triages of the last 24 h: 1 for the first. */
  nth24h: number;
  ordinal24h: string;
  count7d: number;
  /** The newest earlier triage that named a culprit, and how this one's culprit compares. */
  last: { same: 'process' | 'program' | 'other'; at: string; pid: number | null; comm: string | null; path: string | null; reportUrl: string } | null;
  entries: (LinkedHistoryEntry & { at: string })[];
}

/** 1 → "1st", 2 → "2nd", 3 → "3rd", 11 → "11th", 22 → "22nd". */
export function ordinal(n: number): string {
  const mod100 = n % 100;
  const suffix = mod100 >= 11 && mod100 <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${suffix}`;
}

/** "2026-11-30 03:12 UTC". */
export function utcMinute(iso: string): string {
  const d = new Date(Date.parse(iso)).toISOString();
  return `${d.slice(0, 10)} ${d.slice(11, 16)} UTC`;
}

export function historyView(history: readonly LinkedHistoryEntry[], verdict: Pick<Verdict, 'kind' | 'pid' | 'comm' | 'path'>, at: string): HistoryView | null {
  if (history.length === 0) return null;
  const now = Date.parse(at);
  const within = (h: LinkedHistoryEntry, ms: number) => now - Date.parse(h.finishedAt) <= ms;
  const nth24h = history.filter((h) => within(h, DAY_MS)).length + 1;
  const compared = sameCulprit(verdict, history);
  const last = compared
    ? { same: compared.same, at: utcMinute(compared.entry.finishedAt), pid: compared.entry.pid, comm: compared.entry.comm, path: compared.entry.path, reportUrl: (compared.entry as LinkedHistoryEntry).reportUrl }
    : null;
  return {
    nth24h,
    ordinal24h: ordinal(nth24h),
    count7d: history.length + 1,
    last,
    entries: history.map((h) => ({ ...h, at: utcMinute(h.finishedAt) })),
  };
}
