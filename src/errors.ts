/**
 * Errors that cross a stage boundary carry a stable code (used in metric labels, the
 * `failed` verdict and logs) and say whether trying again could help.
 */
export const errorCodes = {
  config_invalid: false,
  unknown_node: false,
  unreachable: true,
  connect_timeout: true,
  auth_refused: false,
  host_key_mismatch: false,
  sudo_refused: false,
  connection_lost: true,
  deadline_exceeded: true,
  output_too_large: false,
  playbook_failed: true,
  tracer_unavailable: false,
  parse_failed: false,
  template_missing: false,
  template_field_missing: false,
  store_unavailable: true,
  store_schema_newer: false,
  cancelled: false,
  queue_full: true,
  interrupted: true,
  internal: false,
} as const satisfies Record<string, boolean>;

export type ErrorCode = keyof typeof errorCodes;

export class TriageError extends Error {
  override readonly name = 'TriageError';
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options?.retryable ?? errorCodes[code];
  }

  toJSON(): { code: ErrorCode; message: string; retryable: boolean } {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}

/** Wraps anything thrown into a TriageError so callers only deal with one shape. */
export function asTriageError(err: unknown, fallback: ErrorCode = 'internal'): TriageError {
  if (err instanceof TriageError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new TriageError(fallback, message, { cause: err });
}
