import { randomBytes } from 'node:crypto';

/** Triage ids are 128 random bits, base64url: unguessable, so a report link is its own capability. */
export function newTriageId(): string {
  return randomBytes(16).toString('base64url');
}

export const triageIdPattern = /^[A-Za-z0-9_-]{22}$/;
