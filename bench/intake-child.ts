/**
 * Bench-only wrapper: the bot's real server (startServer, default logger at info level, real store and
 * dispatcher and engine) from the config in PFT_BENCH_CONFIG, plus what the benchmark needs and the product
 * must not have: with --expose-gc, an IPC message "measure" waits for the dispatcher to be idle, collects
 * garbage and answers with process.memoryUsage(). No HTTP endpoint is added.
 */
import { configSchema } from '../src/config/schema.js';
import { startServer } from '../src/server/server.js';
import { measureOnRequest } from './child-ipc.js';

const config = configSchema.parse(JSON.parse(process.env.PFT_BENCH_CONFIG ?? '{}'));
const server = await startServer(config, { handleSignals: true });
measureOnRequest(server.url, () => server.service.dispatcher.idle());
