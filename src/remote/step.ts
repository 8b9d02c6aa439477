import { TriageError } from '../errors.js';
import { KILL_AFTER_SECONDS } from './command.js';
import { OutputCollector } from './output.js';
import type { StepOutput, StepRequest } from './session.js';

/** Knobs shared by the local and SSH runners; the defaults are what production uses. */
export interface RunnerOptions {
  /**
   * Bot-side slack on top of the node-side bound (timeout + its 2 s kill-after) before a step is
   * given up as deadline_exceeded. Only a step whose output stays open past its own timeout
   * (a descendant that escaped the process group, a hung node) ever gets there.
   */
  deadlineGraceMs?: number;
  /** stderr kept per step: diagnostics only, so much less than stdout. */
  maxStderrBytes?: number;
}

export const DEFAULT_DEADLINE_GRACE_MS = 5_000;
export const DEFAULT_MAX_STDERR_BYTES = 256 * 1024;

/** What a runner hands the supervisor once it has started a step. */
export interface StepHandle {
  /** Stop the step now (abort or deadline). Idempotent; the node-side timeout still bounds it. */
  stop(): void;
}

export interface StepSink {
  readonly stdout: OutputCollector;
  readonly stderr: OutputCollector;
  /** The step ended: its exit status is known and its output streams are closed. */
  finish(exitCode: number | null, exitSignal: string | null): void;
  fail(err: TriageError): void;
}

/**
 * Runs one step under the bot-side rules shared by both runners: bounded output, the abort signal
 * and the deadline. `start` launches the step and reports through the sink; it must not throw.
 */
export function superviseStep(
  req: StepRequest,
  options: RunnerOptions,
  start: (sink: StepSink) => StepHandle,
): Promise<StepOutput> {
  if (!Number.isSafeInteger(req.maxOutputBytes) || req.maxOutputBytes < 1) {
    return Promise.reject(new TriageError('internal', `maxOutputBytes must be a positive integer, got ${req.maxOutputBytes}`));
  }
  if (req.signal?.aborted) return Promise.reject(cancelled());

  const started = performance.now();
  const stdout = new OutputCollector(req.maxOutputBytes);
  const stderr = new OutputCollector(Math.min(req.maxOutputBytes, options.maxStderrBytes ?? DEFAULT_MAX_STDERR_BYTES));
  const deadlineMs = (req.timeoutSeconds + KILL_AFTER_SECONDS) * 1000 + (options.deadlineGraceMs ?? DEFAULT_DEADLINE_GRACE_MS);

  return new Promise<StepOutput>((resolve, reject) => {
    let settled = false;
    let handle: StepHandle | undefined;
    let stopRequested = false;

    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const stopAndFail = (err: TriageError) => {
      stopRequested = true;
      handle?.stop();
      settle(() => reject(err));
    };
    const onAbort = () => stopAndFail(cancelled());
    const timer = setTimeout(
      () =>
        stopAndFail(
          new TriageError(
            'deadline_exceeded',
            `step did not finish within ${Math.round(deadlineMs / 1000)} s (node-side timeout ${req.timeoutSeconds} s + ${KILL_AFTER_SECONDS} s kill-after + grace)`,
          ),
        ),
      deadlineMs,
    );
    req.signal?.addEventListener('abort', onAbort, { once: true });

    const sink: StepSink = {
      stdout,
      stderr,
      finish: (exitCode, exitSignal) =>
        settle(() =>
          resolve({
            stdout: stdout.text(),
            stderr: stderr.truncated ? `${stderr.text()}\n[stderr truncated: ${stderr.droppedBytes} bytes dropped]` : stderr.text(),
            exitCode,
            exitSignal,
            truncated: stdout.truncated,
            ms: Math.round(performance.now() - started),
          }),
        ),
      fail: (err) => settle(() => reject(err)),
    };
    handle = start(sink);
    // The abort or deadline may have fired while start() ran: make sure the step is stopped.
    if (stopRequested) handle.stop();
  });
}

function cancelled(): TriageError {
  return new TriageError('cancelled', 'the step was aborted');
}
