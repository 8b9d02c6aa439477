import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { formatIssues } from '../config/load.js';
import type { Service } from '../service.js';
import { triageIdPattern } from '../store/ids.js';

const listQuery = z.object({
  node: z.string().min(1).max(63).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

/** GET /triages/:id and GET /triages?node=&limit= (newest first). */
export const triagesRoutes: FastifyPluginAsync<{ service: Service }> = async (app, { service }) => {
  app.get<{ Params: { id: string } }>('/triages/:id', async (req, reply) => {
    const triage = triageIdPattern.test(req.params.id) ? service.getTriage(req.params.id) : undefined;
    if (!triage) return reply.code(404).send({ error: 'not found', message: 'no triage with this id' });
    return triage;
  });

  app.get('/triages', async (req, reply) => {
    const q = listQuery.safeParse(req.query);
    if (!q.success) return reply.code(400).send({ error: 'bad request', message: formatIssues(q.error) });
    return { triages: service.listTriages(q.data) };
  });
};
