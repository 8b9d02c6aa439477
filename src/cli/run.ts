import { findNode } from '../config/inventory.js';
import type { Config } from '../config/schema.js';
import { TriageError } from '../errors.js';
import { triageNode } from '../pipeline.js';
import { renderReport } from '../report/markdown.js';
import { progressReporter } from './progress.js';

/**
 * `pagefault-triage run NODE`: the report (or JSON) on stdout, progress on stderr. Exit 0 when the
 * triage ran, whatever the verdict; 1 with a one-line reason when it could not run.
 */
export async function runCommand(
  config: Config,
  nodeName: string,
  opts: { sampleSeconds?: number; captureSeconds?: number; json: boolean },
): Promise<number> {
  const node = findNode(config.nodes, nodeName);
  if (!node) {
    const known = config.nodes.map((n) => n.name).join(', ');
    throw new TriageError('unknown_node', `unknown node "${nodeName}" (configured: ${known})`);
  }
  const progress = progressReporter(node.name);
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await triageNode(config, node, { kind: 'cli' }, { ...opts, signal: ac.signal, onProgress: progress.onProgress });
    progress.done();
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      process.stdout.write(renderReport(result, { reportUrl: null }));
    }
    const failure = result.verdict.failure;
    if (result.verdict.kind === 'failed' && failure) {
      process.stderr.write(`pagefault-triage: ${node.name}: ${failure.message} (${failure.code})\n`);
      return 1;
    }
    process.stderr.write(`${node.name}: ${result.verdict.summary}\n`);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
