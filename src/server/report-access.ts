import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { bearerMatches } from '../intake/auth.js';
import { reportSignature } from '../model/report-link.js';
import { isLoopbackHost } from './loopback.js';

/**
 * Who may read triages and reports (they name processes, users, command lines and file paths):
 *
 * - without server.reportToken, a triage's id is its capability: 128 random bits, so a link can be shared (Slack)
 *   and cannot be guessed. The one place that hands out ids, the list GET /triages, answers loopback clients only.
 * - with server.reportToken, every read needs `Authorization: Bearer <reportToken>`, or, for one triage, the
 *   signature the bot puts in the links it gives out (`?sig=`, an HMAC of the id under the token). Rotating the
 *   token revokes every link.
 *
 * A refused read answers 401 before the id is looked up, so it tells nothing about which ids exist.
 */

export function signatureMatches(token: string, id: string, presented: unknown): boolean {
  if (typeof presented !== 'string' || presented.length > 64) return false;
  const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(presented), digest(reportSignature(token, id)));
}

function refuse(reply: FastifyReply, message: string): FastifyReply {
  return reply.code(401).header('www-authenticate', 'Bearer realm="pagefault-triage reports"').send({ error: 'unauthorized', message });
}

function isLoopbackClient(req: FastifyRequest): boolean {
  const a = req.socket.remoteAddress ?? '';
  return isLoopbackHost(a.replace(/^::ffff:/, ''));
}

/** onRequest for one triage or report: the bearer token, or the link's signature for that id. */
export function readOneHook(token: string | undefined, idOf: (req: FastifyRequest) => string) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (token === undefined) return;
    if (bearerMatches(req.headers.authorization, token)) return;
    const sig = (req.query as Record<string, unknown> | undefined)?.sig;
    if (signatureMatches(token, idOf(req), sig)) return;
    req.log.warn({ hasAuthorization: req.headers.authorization !== undefined, hasSig: sig !== undefined }, 'report read refused');
    await refuse(reply, 'reading triages needs Authorization: Bearer <server.reportToken> or a link the bot signed');
  };
}

/** onRequest for the list: the bearer token; without a configured token, loopback clients only. */
export function readListHook(token: string | undefined) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (token === undefined ? isLoopbackClient(req) : bearerMatches(req.headers.authorization, token)) return;
    req.log.warn({ remote: req.socket.remoteAddress }, 'triage list refused');
    await refuse(
      reply,
      token === undefined
        ? 'listing triages is for loopback clients only; set server.reportToken to list them from elsewhere'
        : 'listing triages needs Authorization: Bearer <server.reportToken>',
    );
  };
}

/** `Authorization: Basic …` whose password is the token (any user name): what a browser sends after its prompt. */
function basicMatches(header: string | undefined, token: string): boolean {
  const m = header === undefined ? null : /^Basic[ \t]+([A-Za-z0-9+/=]{1,1024})[ \t]*$/i.exec(header);
  if (!m) return false;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const password = colon < 0 ? '' : decoded.slice(colon + 1);
  const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(password), digest(token)) && password !== '';
}

/**
 * onRequest for the index page (GET /), which lists ids like GET /triages: loopback clients only without a
 * token; with one, the bearer token, or HTTP Basic with the token as password so a browser (a phone) can ask
 * for it. Links on the page are signed, so reports open from there without asking again.
 */
export function readIndexHook(token: string | undefined) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (token === undefined) {
      if (isLoopbackClient(req)) return;
      req.log.warn({ remote: req.socket.remoteAddress }, 'index of triages refused');
      await refuse(reply, 'the index of triages is for loopback clients only; set server.reportToken to open it from elsewhere');
      return;
    }
    if (bearerMatches(req.headers.authorization, token) || basicMatches(req.headers.authorization, token)) return;
    req.log.warn({ hasAuthorization: req.headers.authorization !== undefined }, 'index of triages refused');
    await reply
      .code(401)
      .header('www-authenticate', 'Basic realm="pagefault-triage", charset="UTF-8"')
      .send({ error: 'unauthorized', message: 'the index of triages needs server.reportToken: as the password when the browser asks, or Authorization: Bearer <server.reportToken>' });
  };
}
