/**
 * A bot process for restart and replica tests: the real server, store and dispatcher, with a stand-in engine
 * whose run time per node comes from PFT_CHILD_TRIAGE_MS (JSON {node: ms, "*": ms}), or the real engine when
 * PFT_CHILD_ENGINE=real. PFT_CHILD_REPLICA names the replica; PFT_CHILD_POLL_MS sets how often it looks for work
 * admitted elsewhere. Prints "listening <url>" on stdout once it serves; exits on SIGTERM after a graceful close.
 */
import { configSchema } from '../../src/config/schema.js';
import { startServer } from '../../src/server/server.js';
import { fakeRender, fakeResult, verdictOf } from './service.js';

const config = configSchema.parse(JSON.parse(process.env.PFT_CHILD_CONFIG ?? '{}'));
const durations = JSON.parse(process.env.PFT_CHILD_TRIAGE_MS ?? '{"*": 100}') as Record<string, number>;

const replica = process.env.PFT_CHILD_REPLICA;
const pollMs = process.env.PFT_CHILD_POLL_MS ? Number(process.env.PFT_CHILD_POLL_MS) : undefined;
const shared = { logger: { level: process.env.PFT_CHILD_LOG_LEVEL ?? 'warn' }, handleSignals: true, ...(replica ? { replica } : {}), ...(pollMs ? { pollMs } : {}) };

const server = process.env.PFT_CHILD_ENGINE === 'real' ? await startServer(config, shared) : await startServer(config, {
  ...shared,
  render: fakeRender,
  triage: async (_config, node, trigger, options = {}) => {
    const ms = durations[node.name] ?? durations['*'] ?? 100;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      options.signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (options.signal?.aborted) return fakeResult(node, trigger, verdictOf('failed', 'cancelled'));
    return fakeResult(node, trigger, verdictOf('quiet', `no major faults on ${node.name}`));
  },
});
process.stdout.write(`listening ${server.url}\n`);
