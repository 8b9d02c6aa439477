import { TriageError } from '../../errors.js';

/**
 * Which PostgreSQL failures mean "the database cannot be reached or used right now" (the service answers 503 and
 * tries again later) as opposed to a bug in a statement, which is thrown as it is.
 */

/** SQLSTATE classes and codes of an unusable server: connection exceptions, insufficient resources, system errors, shutdown. */
const UNAVAILABLE_CLASSES = ['08', '53', '58'];
const UNAVAILABLE_CODES = ['57P01', '57P02', '57P03'];
/** Socket errors of a server that is down, restarting or out of the network. */
const SOCKET_CODES = ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED'];
/**
 * node-postgres reports a lost connection, an exhausted pool and a closed pool (a call racing shutdown) by
 * message only.
 */
const MESSAGES = [/Connection terminated/i, /timeout exceeded when trying to connect/i, /not queryable/i, /Query read timeout/i, /connection timeout/i, /after calling end on the pool/i];

export function isUnavailable(err: unknown): boolean {
  if (err instanceof TriageError) return err.code === 'store_unavailable';
  const e = err as { code?: unknown; message?: unknown; errors?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  const code = typeof e.code === 'string' ? e.code : '';
  if (code.length === 5 && (UNAVAILABLE_CLASSES.includes(code.slice(0, 2)) || UNAVAILABLE_CODES.includes(code))) return true;
  if (SOCKET_CODES.includes(code)) return true;
  // Connecting to every address of a host name fails as one AggregateError.
  if (Array.isArray(e.errors) && e.errors.length > 0 && e.errors.every(isUnavailable)) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  return MESSAGES.some((m) => m.test(message));
}

export function unavailable(what: string, location: string, err: unknown): TriageError {
  if (err instanceof TriageError) return err;
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? `${e.code}: ` : '';
  const message = typeof e?.message === 'string' && e.message !== '' ? e.message : String(err);
  return new TriageError('store_unavailable', `${what} failed: the database at ${location} is unreachable (${code}${message})`, { cause: err });
}

/** A unique violation of this index (a race another replica won). */
export function isUniqueViolation(err: unknown, constraint: string): boolean {
  const e = err as { code?: unknown; constraint?: unknown } | null;
  return e?.code === '23505' && e.constraint === constraint;
}

/**
 * Opening the store failed for a reason other than an outage (no right to create the tables, a broken schema):
 * still the store that is unavailable, said plainly, but trying again will not help until someone acts.
 */
export function refused(what: string, location: string, err: unknown): TriageError {
  if (err instanceof TriageError) return err;
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? `${e.code}: ` : '';
  const message = typeof e?.message === 'string' && e.message !== '' ? e.message : String(err);
  return new TriageError('store_unavailable', `${what} failed: the database at ${location} refused it (${code}${message})`, { cause: err, retryable: false });
}
