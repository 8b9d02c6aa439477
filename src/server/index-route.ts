import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { formatIssues } from '../config/load.js';
import { verdictKindSchema } from '../model/verdict.js';
import { renderIndexPage } from '../report/index-page.js';
import type { Service } from '../service.js';
import { readIndexHook } from './report-access.js';

/** Triages a page of the index shows. */
export const INDEX_PAGE_SIZE = 50;

const indexQuery = z.object({
  node: z.string().max(63).optional(),
  kind: z.union([z.literal(''), verdictKindSchema]).optional(),
  page: z.coerce.number().int().min(1).max(10_000).default(1),
});

/** The page loads nothing but itself; its one form (the filters) submits to itself. */
const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** GET /: an HTML index of triages, newest first, with filters by node and verdict kind, and pages. */
export const indexRoute: FastifyPluginAsync<{ service: Service }> = async (app, { service }) => {
  const token = service.config.server.reportToken;
  const nodes = service.config.nodes.map((n) => n.name);
  app.get('/', { onRequest: readIndexHook(token) }, async (req, reply) => {
    const q = indexQuery.safeParse(req.query);
    if (!q.success) return reply.code(400).send({ error: 'bad request', message: formatIssues(q.error) });
    const node = q.data.node && nodes.includes(q.data.node) ? q.data.node : null;
    const kind = q.data.kind ? q.data.kind : null;
    const number = q.data.page;
    // One more than a page: whether there is an older page, without counting every triage.
    const rows = await service.listTriages({ node: node ?? undefined, kind: kind ?? undefined, limit: INDEX_PAGE_SIZE + 1, offset: (number - 1) * INDEX_PAGE_SIZE });
    const href = (p: { node?: string | null; kind?: string | null; page?: number }) => {
      const params = new URLSearchParams();
      if (p.node) params.set('node', p.node);
      if (p.kind) params.set('kind', p.kind);
      if (p.page && p.page > 1) params.set('page', String(p.page));
      const s = params.toString();
      return s ? `?${s}` : './';
    };
    const html = renderIndexPage({
      triages: rows.slice(0, INDEX_PAGE_SIZE),
      nodes,
      filter: { node, kind },
      page: {
        number,
        newerUrl: number > 1 ? href({ node, kind, page: number - 1 }) : null,
        olderUrl: rows.length > INDEX_PAGE_SIZE ? href({ node, kind, page: number + 1 }) : null,
      },
      nodeUrl: (n) => href({ node: n, kind }),
      allUrl: './',
    });
    reply.header('cache-control', 'private, no-store').header('content-security-policy', CSP);
    return reply.type('text/html; charset=utf-8').send(html);
  });
};
