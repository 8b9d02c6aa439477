import { TriageError, type ErrorCode } from '../errors.js';
import { failedVerdict } from '../analysis/verdict.js';
import type { Verdict } from '../model/verdict.js';

/**
 * The verdict of a triage that never produced one of its own (dropped, cancelled or interrupted):
 * the engine's failed verdict, summarised by the message since no node was reached.
 */
export function failureVerdict(code: ErrorCode, message: string): Verdict {
  return { ...failedVerdict(new TriageError(code, message), ''), summary: message };
}
