import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Config } from '../config/schema.js';
import { TriageError } from '../errors.js';
import { createService, type Service, type ServiceDeps } from '../service.js';
import app from './app.js';
import { redactingLogger } from './log-redaction.js';
import { isLoopbackHost } from './loopback.js';

export { isLoopbackHost };

/**
 * `serve`: creates the fastify instance, sets timeouts, listens, and closes gracefully
 * (stop taking webhooks, answering them 503 while still listening, let running triages finish within
 * triage.shutdownGraceSeconds, mark the rest interrupted, then stop listening). Routes live in app.ts.
 */

/** Anyone who can reach a non-loopback address could start triages: that needs a token. */
export function checkExposure(config: Config): void {
  if (!isLoopbackHost(config.server.host) && config.server.webhookToken === undefined) {
    throw new TriageError(
      'config_invalid',
      `server.host is ${config.server.host}, which is not loopback: set server.webhookToken (e.g. webhookToken: \${PFT_WEBHOOK_TOKEN}) so only Alertmanager can post alerts`,
    );
  }
}

/**
 * Slow clients cannot hold the bot's sockets: headers must arrive within headersTimeoutSeconds and the whole
 * request within requestTimeoutSeconds (Node answers 408 and closes), an idle socket goes after the request
 * timeout, an idle keep-alive connection after keepAliveTimeoutSeconds. Node checks these every
 * connectionsCheckingInterval, 30 s by default, which would stretch a 10 s limit to 40 s: check every second.
 */
export function httpTimeouts(server: Config['server']): {
  connectionTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  http: { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number };
} {
  const requestMs = server.requestTimeoutSeconds * 1000;
  const headersMs = Math.min(server.headersTimeoutSeconds * 1000, requestMs);
  return {
    connectionTimeout: requestMs,
    requestTimeout: requestMs,
    keepAliveTimeout: server.keepAliveTimeoutSeconds * 1000,
    http: { headersTimeout: headersMs, requestTimeout: requestMs, connectionsCheckingInterval: Math.min(1000, headersMs) },
  };
}

export interface ServerOptions extends Omit<ServiceDeps, 'log'> {
  /** fastify's logger option: pino options, or false. Default: info level to stdout. */
  logger?: FastifyServerOptions['logger'];
  /** Close gracefully on SIGTERM/SIGINT, then exit (default true; in-process tests pass false). */
  handleSignals?: boolean;
}

export interface RunningServer {
  app: FastifyInstance;
  service: Service;
  /** The listening base URL, e.g. http://127.0.0.1:9095 */
  url: string;
  close(): Promise<void>;
}

export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  checkExposure(config);
  const instance = Fastify({
    // Request lines carry URLs: query values (?sig=, tokens) and the Authorization header are redacted.
    logger: redactingLogger(options.logger),
    bodyLimit: config.server.bodyLimitBytes,
    ...httpTimeouts(config.server),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  const { logger: _logger, handleSignals, ...deps } = options;
  const service = await createService(config, { ...deps, log: instance.log });
  await instance.register(app, { service });
  let address: string;
  try {
    address = await instance.listen({ host: config.server.host, port: config.server.port });
  } catch (err) {
    await instance.close(); // closes the service and its store
    throw err;
  }
  const url = address.replace(/\/+$/, '');
  if (config.server.publicUrl === undefined) service.publicUrl = url;
  instance.log.info({ url, publicUrl: service.publicUrl, nodes: config.nodes.map((n) => n.name), token: config.server.webhookToken !== undefined }, 'pagefault-triage serving');

  let closing: Promise<void> | undefined;
  // A second signal finds no handler (close removed it) and ends the process at once.
  const onSignal = (signal: NodeJS.Signals): void => {
    instance.log.info({ signal, graceSeconds: config.triage.shutdownGraceSeconds }, 'shutting down: waiting for running triages');
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        instance.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      // Drain with the listener open: until running triages end (or their grace does), POST /alerts and
      // /-/ready answer 503 + Retry-After, which Alertmanager retries. Closing the listener first would refuse
      // connections instead, and cut the keep-alive connections Alertmanager is about to reuse.
      try {
        await service.close();
      } finally {
        await instance.close(); // its onClose hook finds the service closed already
      }
    })());
  if (handleSignals ?? true) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  return { app: instance, service, url, close };
}
