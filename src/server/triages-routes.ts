import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { formatIssues } from '../config/load.js';
import type { Service } from '../service.js';
import { triageIdPattern } from '../model/ids.js';
import { readListHook, readOneHook } from './report-access.js';

const listQuery = z.object({
  node: z.string().min(1).max(63).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

/** GET /triages/:id and GET /triages?node=&limit= (newest first). */
export const triagesRoutes: FastifyPluginAsync<{ service: Service }> = async (app, { service }) => {
  const token = service.config.server.reportToken;
  const readOne = readOneHook(token, (req) => (req.params as { id: string }).id);
  app.get<{ Params: { id: string } }>('/triages/:id', { onRequest: readOne }, async (req, reply) => {
    const triage = triageIdPattern.test(req.params.id) ? await service.getTriage(req.params.id) : undefined;
    if (!triage) return reply.code(404).send({ error: 'not found', message: 'no triage with this id' });
    return triage;
  });

  // The list hands out ids, which are the capability to read a report: not for everyone (report-access.ts).
  app.get('/triages', { onRequest: readListHook(token) }, async (req, reply) => {
    const q = listQuery.safeParse(req.query);
    if (!q.success) return reply.code(400).send({ error: 'bad request', message: formatIssues(q.error) });
    return { triages: await service.listTriages(q.data) };
  });
};
