import type { ErrorCode, TriageError } from '../errors.js';
import type { Verdict } from './verdict.js';

// Partial so a code added elsewhere still gets a readable fallback rather than breaking the build.
const REASON: Partial<Record<ErrorCode, string>> = {
  config_invalid: 'invalid configuration',
  unknown_node: 'unknown node',
  unreachable: 'unreachable',
  connect_timeout: 'connection timed out',
  auth_refused: 'auth refused',
  host_key_mismatch: 'host key mismatch',
  sudo_refused: 'sudo refused',
  connection_lost: 'connection lost',
  deadline_exceeded: 'timeout',
  output_too_large: 'playbook output too large',
  playbook_failed: 'playbook failed',
  tracer_unavailable: 'the tracer set in playbook.tracer is unavailable',
  parse_failed: 'playbook output could not be parsed',
  template_missing: 'report template missing',
  template_field_missing: 'report template field missing',
  store_unavailable: 'store unavailable',
  cancelled: 'cancelled',
  queue_full: 'too many triages queued',
  interrupted: 'interrupted',
  internal: 'internal error',
};

/**
 * The `failed` verdict: the error's code and message in `failure`. With the node, the summary names it and
 * the reason in words (the engine could not triage it); without, the summary is the message itself (a triage
 * that never ran to a verdict of its own: dropped, cancelled, interrupted).
 */
export function failureVerdict(error: TriageError, node?: string): Verdict {
  return {
    kind: 'failed',
    summary: node === undefined ? error.message : `triage of ${node} failed: ${REASON[error.code] ?? error.code.replaceAll('_', ' ')}`,
    pid: null,
    comm: null,
    path: null,
    confidence: null,
    tracer: null,
    faultsPerSec: null,
    mappings: [],
    notes: [],
    failure: { code: error.code, message: error.message, retryable: error.retryable },
  };
}
