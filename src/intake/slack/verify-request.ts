import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Checks that a request really comes from Slack: Slack signs `v0:<timestamp>:<raw body>` with the
 * app's signing secret (HMAC-SHA256) and sends the result in `X-Slack-Signature`, the timestamp in
 * `X-Slack-Request-Timestamp`. Pure: the clock is a parameter, so tests use fixed times.
 * (After bolt-js src/receivers/verify-request.ts.)
 */

export type VerifyFailure = 'missing_headers' | 'bad_timestamp' | 'stale' | 'bad_signature';
export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure; message: string };

/** A replayed request older than this is refused, whatever its signature. */
export const MAX_AGE_SECONDS = 5 * 60;

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name];
  return typeof v === 'string' ? v : undefined;
};

/** Rules 1 and 2 only: whether the headers can be right, before the body is read. */
export function checkSlackHeaders(headers: IncomingHttpHeaders, nowMs: number): VerifyResult {
  const signature = header(headers, 'x-slack-signature');
  const timestamp = header(headers, 'x-slack-request-timestamp');
  // Rule 1: both headers, each once.
  if (signature === undefined || timestamp === undefined) {
    return { ok: false, reason: 'missing_headers', message: 'X-Slack-Signature and X-Slack-Request-Timestamp are required' };
  }
  // Rule 2: the timestamp is whole seconds and within five minutes of now, either way.
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'bad_timestamp', message: 'X-Slack-Request-Timestamp is not whole seconds' };
  const skew = Math.abs(Math.floor(nowMs / 1000) - Number(timestamp));
  if (skew > MAX_AGE_SECONDS) {
    return { ok: false, reason: 'stale', message: `the request timestamp is ${skew} s from now (at most ${MAX_AGE_SECONDS} s)` };
  }
  return { ok: true };
}

export function verifySlackRequest(signingSecret: string, headers: IncomingHttpHeaders, rawBody: Buffer | string, nowMs: number): VerifyResult {
  const early = checkSlackHeaders(headers, nowMs);
  if (!early.ok) return early;
  const signature = header(headers, 'x-slack-signature')!;
  const timestamp = header(headers, 'x-slack-request-timestamp')!;
  // Rule 3: version v0 and a SHA-256 hex digest.
  const presented = /^v0=([0-9a-f]{64})$/.exec(signature)?.[1];
  if (presented === undefined) return { ok: false, reason: 'bad_signature', message: 'X-Slack-Signature is not v0=<64 hex digits>' };
  // Rule 4: the HMAC of the raw bytes, compared in constant time (both sides are 32 bytes).
  const expected = createHmac('sha256', signingSecret).update(`v0:${timestamp}:`).update(rawBody).digest();
  if (!timingSafeEqual(expected, Buffer.from(presented, 'hex'))) {
    return { ok: false, reason: 'bad_signature', message: 'the signature does not match the body and slack.signingSecret' };
  }
  return { ok: true };
}
