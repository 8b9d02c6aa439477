import type { BaseLogger } from 'pino';

/** What the service needs of a logger: pino itself, or fastify's `app.log`. */
export type Log = Pick<BaseLogger, 'debug' | 'info' | 'warn' | 'error'>;
