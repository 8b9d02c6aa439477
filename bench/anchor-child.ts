/** Anchor for the intake benchmark: a bare fastify server that answers 202 to POST /alerts, same body limit. */
import Fastify from 'fastify';
import { measureOnRequest } from './child-ipc.js';

const app = Fastify({ bodyLimit: 1024 * 1024 });
app.post('/alerts', async (_req, reply) => reply.code(202).send({ triages: [], ignored: [] }));
const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
measureOnRequest(url);
