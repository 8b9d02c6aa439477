import { createHmac } from 'node:crypto';

/**
 * Links to a report. Without server.reportToken a triage's id is its capability; with one, the links the bot
 * hands out (Slack, reportUrl) carry a signature the report routes check (server/report-access.ts).
 */

const SIG_CONTEXT = 'pagefault-triage report v1 ';

/** The link signature for one triage: 128 bits of HMAC-SHA256(reportToken, context + id), base64url. */
export function reportSignature(token: string, id: string): string {
  return createHmac('sha256', token).update(SIG_CONTEXT + id, 'utf8').digest().subarray(0, 16).toString('base64url');
}

/** `?sig=…` for a link to this triage, or '' without a token. */
export function signedQuery(token: string | undefined, id: string): string {
  return token === undefined ? '' : `?sig=${reportSignature(token, id)}`;
}

export function reportUrl(publicUrl: string, id: string, reportToken?: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/reports/${id}${signedQuery(reportToken, id)}`;
}
