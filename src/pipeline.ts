/**
 * The engine: the node-facing part of the chain for one node,
 *
 *   remote (connect to the node) → playbook (rank, capture) → analysis (resolve, classify, verdict)
 *
 * `triageNode` never throws: every failure becomes a `failed` verdict with its reason. The whole chain around
 * it (intake, dispatch, report, store, notify) is put together in service.ts; the CLI uses `triageNode` and
 * `renderReport` directly.
 */
import type { Config, NodeConfig } from './config/schema.js';
import { asTriageError, TriageError } from './errors.js';
import type { CaptureFacts, RankFacts } from './model/facts.js';
import type { StepName, StepTiming, TriageResult, Trigger } from './model/triage.js';
import { connectorFor } from './remote/connect.js';
import type { Connector, NodeSession, StepOutput } from './remote/session.js';
import { captureArgs, captureTimeoutSeconds, newNonce, playbookScript, rankArgs, rankTimeoutSeconds } from './playbook/steps.js';
import { parseCapture, parseRank, tracerUnavailable } from './playbook/parse.js';
import { rankProcesses } from './analysis/rank.js';
import { analyze } from './analysis/analyze.js';
import { failureVerdict } from './model/failure.js';
import type { Log } from './log.js';

export interface Progress {
  step: StepName | 'done';
  /** Length of a timed window, for a countdown. */
  seconds?: number;
}

export interface TriageOptions {
  sampleSeconds?: number;
  captureSeconds?: number;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** For tests and tools: how to reach the node (default: local or SSH from the node's config). */
  connector?: Connector;
  /**
   * Where a failure's private detail goes (the error it was caused by: file paths, library messages). The
   * verdict, which Slack and the report show, carries only the failure's own message.
   */
  log?: Log;
}

export async function triageNode(config: Config, node: NodeConfig, trigger: Trigger, options: TriageOptions = {}): Promise<TriageResult> {
  const pb = config.playbook;
  const sampleSeconds = options.sampleSeconds ?? pb.sampleSeconds;
  const captureSeconds = options.captureSeconds ?? pb.captureSeconds;
  const progress = options.onProgress ?? (() => {});
  const startedAt = new Date();
  const timings: StepTiming[] = [];
  const address = node.local ? 'local' : `${node.ssh!.host}:${node.ssh!.port}`;

  // One deadline for the whole triage. Each remote step is bounded by the node's `timeout` too,
  // never past what is left of the deadline, so nothing keeps running on the node after we give up.
  const deadlineMs = (sampleSeconds + captureSeconds + pb.deadlineSlackSeconds) * 1000;
  const deadlineAt = Date.now() + deadlineMs;
  const deadline = AbortSignal.timeout(deadlineMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;

  const timed = async <T>(step: StepName, fn: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      timings.push({ step, ms: Math.round(performance.now() - t0) });
    }
  };

  let session: NodeSession | undefined;
  let rank: RankFacts | undefined;
  const base = { node: node.name, address, trigger, startedAt: startedAt.toISOString(), window: { sampleSeconds, captureSeconds } };
  try {
    const connector = options.connector ?? connectorFor(node);
    const script = playbookScript();
    const step = async (name: 'rank' | 'capture', args: string[], stepSeconds: number): Promise<StepOutput> => {
      const left = Math.floor((deadlineAt - Date.now()) / 1000);
      if (left < 1) throw new TriageError('deadline_exceeded', `no time left for the ${name} step within the ${deadlineMs / 1000} s deadline`);
      const out = await session!.run({
        script,
        args,
        timeoutSeconds: Math.min(stepSeconds, left),
        maxOutputBytes: pb.maxOutputBytes,
        signal,
      });
      return checkStep(name, out);
    };

    progress({ step: 'connect' });
    session = await timed('connect', () => withDeadline(connector.open(node, { signal }), signal));

    progress({ step: 'rank', seconds: sampleSeconds });
    const rankNonce = newNonce();
    rank = await timed('rank', async () =>
      parseRank((await step('rank', rankArgs(rankNonce, sampleSeconds), rankTimeoutSeconds(sampleSeconds))).stdout, rankNonce),
    );

    // Trace only the processes that faulted; none faulting → system-wide, to catch short-lived ones.
    const top = rankProcesses(rank, pb.topProcesses)
      .filter((p) => p.majflt > 0)
      .map((p) => p.pid);
    progress({ step: 'capture', seconds: captureSeconds });
    const captureNonce = newNonce();
    const capture: CaptureFacts = await timed('capture', async () =>
      parseCapture(
        (await step('capture', captureArgs(captureNonce, captureSeconds, pb.tracer, top), captureTimeoutSeconds(captureSeconds))).stdout,
        captureNonce,
      ),
    );
    const forcedMissing = tracerUnavailable(capture);
    if (forcedMissing) throw forcedMissing;

    progress({ step: 'resolve' });
    const { analysis, verdict } = await timed('resolve', () =>
      analyze({ node: node.name, rank: rank!, capture, topProcesses: pb.topProcesses, sampleSeconds, captureSeconds }),
    );
    progress({ step: 'done' });
    return { ...base, finishedAt: new Date().toISOString(), timings, nodeInfo: rank.node, verdict, analysis };
  } catch (err) {
    // Once the deadline or the caller aborted, a step's own `cancelled` (or a connection closed under it) is the
    // abort's doing: say which abort it was.
    const abortsDoing = !(err instanceof TriageError) || err.code === 'connection_lost' || err.code === 'cancelled';
    const e = signal.aborted && abortsDoing ? abortReason(options.signal, deadlineMs, err) : asTriageError(err);
    const cause = e.cause instanceof Error ? e.cause.message : e.cause === undefined ? undefined : String(e.cause);
    options.log?.warn({ node: node.name, code: e.code, cause }, `triage of ${node.name} failed: ${e.message}`);
    progress({ step: 'done' });
    return { ...base, finishedAt: new Date().toISOString(), timings, nodeInfo: rank?.node ?? null, verdict: failureVerdict(e, node.name), analysis: null };
  } finally {
    await session?.close().catch(() => {});
  }
}

function abortReason(external: AbortSignal | undefined, deadlineMs: number, err: unknown): TriageError {
  if (external?.aborted) return new TriageError('cancelled', 'the triage was cancelled', { cause: err });
  return new TriageError('deadline_exceeded', `the node did not finish within the ${Math.round(deadlineMs / 1000)} s deadline`, { cause: err });
}

function withDeadline<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** A step that did not complete is an error; a flood past the cap is one too (the facts would be partial). */
function checkStep(name: string, out: StepOutput): StepOutput {
  if (out.truncated) {
    throw new TriageError('output_too_large', `the ${name} step printed more than the configured playbook.maxOutputBytes; its output was cut`);
  }
  if (out.exitCode === 124 || out.exitSignal === 'KILL' || out.exitCode === 137) {
    throw new TriageError('deadline_exceeded', `the ${name} step hit the node-side timeout`);
  }
  if (out.exitCode !== 0) {
    const detail = out.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 300) || `exit code ${out.exitCode ?? out.exitSignal}`;
    throw new TriageError('playbook_failed', `the ${name} step failed on the node: ${detail}`);
  }
  return out;
}
