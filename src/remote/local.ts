import { spawn } from 'node:child_process';
import type { NodeConfig } from '../config/schema.js';
import { TriageError } from '../errors.js';
import { buildStepCommand, KILL_AFTER_SECONDS } from './command.js';
import type { Connector, NodeSession, StepOutput, StepRequest } from './session.js';
import { superviseStep, type RunnerOptions, type StepSink } from './step.js';

/**
 * Runs the playbook on this machine for `local: true` nodes: the same command and script as over
 * SSH, spawned without a shell. `timeout` is started as the leader of a new session
 * (`detached: true`), so its process group holds every process of the step and one kill of the
 * group stops them all.
 */
export interface LocalOptions extends RunnerOptions {
  /** Environment and user of the step (tests use them to play a node with fewer tools or rights). */
  spawn?: { env?: NodeJS.ProcessEnv; uid?: number; gid?: number };
}

export class LocalConnector implements Connector {
  constructor(private readonly options: LocalOptions = {}) {}

  async open(node: NodeConfig, options: { signal?: AbortSignal } = {}): Promise<NodeSession> {
    if (!node.local) throw new TriageError('internal', `node ${node.name} is not a local node`);
    if (options.signal?.aborted) throw new TriageError('cancelled', 'aborted before the session opened');
    return new LocalSession(this.options);
  }
}

/** After TERM, the group gets KILL once this has passed (a little after the node-side kill-after). */
const KILL_GRACE_MS = (KILL_AFTER_SECONDS + 1) * 1000;

class LocalSession implements NodeSession {
  readonly address = 'local';
  private closed = false;
  private current: { sink: StepSink; stop(): void } | undefined;

  constructor(private readonly options: LocalOptions) {}

  async run(req: StepRequest): Promise<StepOutput> {
    if (this.closed) throw new TriageError('internal', 'the local session is closed');
    if (this.current) throw new TriageError('internal', 'a step is already running on this session');
    const [file, ...args] = buildStepCommand({ args: req.args, timeoutSeconds: req.timeoutSeconds, sudo: false }).argv as [string, ...string[]];

    return superviseStep(req, this.options, (sink) => {
      const child = spawn(file, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'], ...this.options.spawn });
      let killTimer: NodeJS.Timeout | undefined;
      let exited = false;

      const killGroup = (signal: NodeJS.Signals) => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, signal);
        } catch {
          // ESRCH: the group is gone already.
        }
      };
      // TERM lets `timeout` and the playbook's traps clean up; KILL follows for whatever is left.
      const stop = () => {
        if (exited || killTimer) return;
        killGroup('SIGTERM');
        // Runs even after the child closed: a background job that let go of stdout is still in the group.
        killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS).unref();
      };
      this.current = { sink, stop };

      child.on('error', (err) => {
        exited = true;
        sink.fail(new TriageError('internal', `cannot start ${file}: ${err.message}`, { cause: err }));
      });
      child.stdout.on('data', (chunk: Buffer) => sink.stdout.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => sink.stderr.push(chunk));
      // The script may exit before it has read all of stdin: EPIPE here is not a failure.
      child.stdin.on('error', () => {});
      child.stdin.end(req.script);
      child.on('close', (code, signal) => {
        exited = true;
        sink.finish(code, signal);
      });
      return { stop };
    }).finally(() => {
      this.current = undefined;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.current) {
      this.current.stop();
      this.current.sink.fail(new TriageError('cancelled', 'the session was closed while a step was running'));
    }
  }
}
