import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Checks an `Authorization: Bearer <token>` header against the configured token in constant time:
 * both sides are hashed first, so the comparison never depends on where they differ or on length.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = header === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  const presented = m?.[1] ?? '';
  const ok = timingSafeEqual(digest(presented), digest(token));
  return ok && presented !== '';
}
