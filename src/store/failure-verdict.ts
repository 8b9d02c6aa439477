import type { ErrorCode } from '../errors.js';
import { errorCodes } from '../errors.js';
import type { Verdict } from '../model/verdict.js';

/** The verdict of a triage that never produced one of its own: dropped, cancelled or interrupted. */
export function failureVerdict(code: ErrorCode, message: string): Verdict {
  return {
    kind: 'failed',
    summary: message,
    pid: null,
    comm: null,
    path: null,
    confidence: null,
    tracer: null,
    faultsPerSec: null,
    mappings: [],
    notes: [],
    failure: { code, message, retryable: errorCodes[code] },
  };
}
