import type { Config, NodeConfig } from '../config/schema.js';
import { asTriageError, TriageError } from '../errors.js';
import type { Log } from '../log.js';
import { failureVerdict } from '../model/failure.js';
import { newTriageId } from '../model/ids.js';
import type { Admission, AlertTrigger, ManualTrigger, RunOptions, Trigger } from '../model/triage.js';
import { isStoreError, STORE_RETRY_MS } from '../store/store-errors.js';
import type { TriageStore } from '../store/triage-store.js';
import { cooldownReason, dedupKey, findDuplicate } from './admission.js';

/**
 * Dispatch: decides whether a request becomes a triage (dedup, cooldown, queue cap) and when it
 * runs (one per node, at most `maxConcurrent` in all, oldest first). Execution itself is injected.
 */

export interface Job {
  id: string;
  node: NodeConfig;
  trigger: Trigger;
  options: RunOptions;
  createdAt: string;
  /** Set when the job starts. */
  startedAt?: string;
}

/** Runs a job to its stored verdict. Called after the store marked it running. */
export type Execute = (job: Job, signal: AbortSignal) => Promise<void>;

/** Ids and nodes named in a queue-full warning; the count covers the rest. */
const DROPPED_LISTED = 20;

export interface DispatcherDeps {
  triage: Config['triage'];
  store: TriageStore;
  execute: Execute;
  log: Log;
  now?: () => Date;
}

interface Running {
  job: Job;
  abort: AbortController;
  done: Promise<void>;
}

export class Dispatcher {
  private readonly deps: DispatcherDeps;
  private readonly now: () => Date;
  private readonly queue: Job[] = [];
  private readonly running = new Map<string, Running>();
  private readonly busyNodes = new Set<string>();
  private pumpScheduled = false;
  /** Set while the store refuses writes: the queue is tried again when it fires. */
  private storeRetry: NodeJS.Timeout | undefined;
  private accepting = true;
  private idleWaiters: (() => void)[] = [];
  /** Triages dropped (queue full) in this turn of the event loop, logged as one line at its end. */
  private dropped: { ids: string[]; nodes: Set<string>; count: number } | null = null;

  constructor(deps: DispatcherDeps) {
    this.deps = deps;
    this.now = deps.now ?? (() => new Date());
  }

  get queuedCount(): number {
    return this.queue.length;
  }

  get runningCount(): number {
    return this.running.size;
  }

  get isAccepting(): boolean {
    return this.accepting;
  }

  /** An automatic triage for a firing alert: deduped on fingerprint + startsAt, then cooled down per node. */
  admitAlert(node: NodeConfig, trigger: AlertTrigger): Admission {
    const { store, triage } = this.deps;
    const seen = findDuplicate(store, trigger);
    if (seen) return { status: 'duplicate', id: seen.id, node: node.name };
    const now = this.now();
    const cooling = cooldownReason(store, node.name, triage, now);
    if (cooling) return { status: 'cooldown', id: cooling.id, node: node.name, reason: cooling.reason };
    return this.enqueue(node, trigger, {}, dedupKey(trigger), now);
  }

  /**
   * A triage someone asked for (CLI, Slack, button): no cooldown, but while the node already has one
   * queued or running, that one is the answer.
   */
  admitManual(node: NodeConfig, trigger: ManualTrigger, options: RunOptions = {}): Admission {
    const pending = this.queue.find((j) => j.node.name === node.name) ?? [...this.running.values()].find((r) => r.job.node.name === node.name)?.job;
    if (pending) return { status: 'duplicate', id: pending.id, node: node.name };
    return this.enqueue(node, trigger, options, null, this.now());
  }

  private enqueue(node: NodeConfig, trigger: Trigger, options: RunOptions, key: string | null, now: Date): Admission {
    const { store, triage, log } = this.deps;
    const id = newTriageId();
    const row = { id, node: node.name, trigger, options, dedupKey: key, createdAt: now };
    if (this.queue.length >= triage.maxQueued) {
      const reason = `the queue is full (triage.maxQueued = ${triage.maxQueued}); recorded as failed triage ${id}`;
      store.insertFailed(row, failureVerdict(new TriageError('queue_full', `dropped: ${reason}`)));
      this.noteDropped(id, node.name);
      return { status: 'dropped', id, node: node.name, reason };
    }
    store.insertQueued(row);
    this.queue.push({ id, node, trigger, options, createdAt: now.toISOString() });
    log.info({ triageId: id, node: node.name, trigger: trigger.kind }, 'triage queued');
    this.schedulePump();
    return { status: 'queued', id, node: node.name };
  }

  /**
   * For a store transaction that may roll back (disk full): returns what puts the queue back as it was, so no
   * job stays queued in memory whose row was never written. Nothing starts in between: starts wait for setImmediate.
   */
  checkpoint(): () => void {
    const saved = [...this.queue];
    return () => {
      this.queue.splice(0, this.queue.length, ...saved);
    };
  }

  /** Puts back a triage a previous process left queued (already in the store). */
  resume(job: Job): void {
    this.queue.push(job);
    this.deps.log.info({ triageId: job.id, node: job.node.name }, 'triage resumed after restart');
    this.schedulePump();
  }

  /** Cancels the node's queued automatic triages for this alert; running ones go on. Returns their ids. */
  cancelQueued(node: string, fingerprint: string, message: string): string[] {
    const cancelled: string[] = [];
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const job = this.queue[i]!;
      if (job.node.name !== node || job.trigger.kind !== 'alert' || job.trigger.fingerprint !== fingerprint) continue;
      if (this.deps.store.fail(job.id, failureVerdict(new TriageError('cancelled', message)), this.now(), ['queued'])) cancelled.push(job.id);
      this.queue.splice(i, 1);
      this.deps.log.info({ triageId: job.id, node }, 'triage cancelled: alert resolved');
    }
    this.notifyIdle();
    return cancelled.reverse();
  }

  /**
   * A full queue during a storm drops hundreds of triages per webhook: one warning for all that one webhook
   * (one turn of the event loop) dropped, with the count and the first ids and nodes; each is in the store and
   * the 202 answer anyway.
   */
  private noteDropped(id: string, node: string): void {
    if (this.dropped === null) {
      const burst = { ids: [] as string[], nodes: new Set<string>(), count: 0 };
      this.dropped = burst;
      setImmediate(() => {
        this.dropped = null;
        this.deps.log.warn(
          { dropped: burst.count, maxQueued: this.deps.triage.maxQueued, triageIds: burst.ids, nodes: [...burst.nodes] },
          `${burst.count} ${burst.count === 1 ? 'triage' : 'triages'} dropped: the queue is full (triage.maxQueued = ${this.deps.triage.maxQueued}); each is recorded as failed (queue_full)`,
        );
      });
    }
    const burst = this.dropped;
    burst.count++;
    if (burst.ids.length < DROPPED_LISTED) burst.ids.push(id);
    if (burst.nodes.size < DROPPED_LISTED) burst.nodes.add(node);
  }

  /** Starting runs waits for the current request to be answered. */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    const max = this.deps.triage.maxConcurrent;
    for (let i = 0; i < this.queue.length && this.accepting && this.running.size < max; ) {
      const job = this.queue[i]!;
      if (this.busyNodes.has(job.node.name)) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      if (!this.start(job)) {
        // The store cannot be written (disk full, read-only): keep the job and its place, try again later.
        this.queue.splice(i, 0, job);
        this.storeRetry ??= setTimeout(() => {
          this.storeRetry = undefined;
          this.schedulePump();
        }, STORE_RETRY_MS);
        break;
      }
    }
    this.notifyIdle();
  }

  /** False when the store could not record the start (the job did not start). */
  private start(job: Job): boolean {
    const { store, execute, log } = this.deps;
    let marked: boolean;
    const startedAt = this.now();
    try {
      marked = store.markRunning(job.id, startedAt);
    } catch (err) {
      if (!isStoreError(err)) throw err;
      log.error({ triageId: job.id, node: job.node.name, err }, 'cannot start the triage: the store cannot be written; retrying');
      return false;
    }
    if (!marked) return true; // ended while it waited
    job.startedAt = startedAt.toISOString();
    const abort = new AbortController();
    this.busyNodes.add(job.node.name);
    const done = Promise.resolve()
      .then(() => execute(job, abort.signal))
      .catch((err: unknown) => {
        const e = asTriageError(err);
        log.error({ triageId: job.id, node: job.node.name, err: e }, 'triage crashed');
        try {
          if (store.open) store.fail(job.id, failureVerdict(new TriageError(e.code, `the triage crashed: ${e.message}`)), this.now(), ['running']);
        } catch (storeErr) {
          log.error({ triageId: job.id, err: storeErr }, 'cannot record the crash: the store cannot be written');
        }
      })
      .finally(() => {
        this.running.delete(job.id);
        this.busyNodes.delete(job.node.name);
        this.schedulePump();
      });
    this.running.set(job.id, { job, abort, done });
    return true;
  }

  private notifyIdle(): void {
    if (this.queue.length > 0 || this.running.size > 0 || this.pumpScheduled) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once nothing is queued or running (tests, and draining). */
  idle(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.notifyIdle();
    });
  }

  /**
   * Stops starting triages and gives the running ones `graceMs` to finish. Those still running then
   * are aborted and marked interrupted. Queued ones stay queued in the store: the next process
   * resumes them (recover.ts).
   */
  async close(graceMs: number): Promise<{ finished: string[]; interrupted: string[] }> {
    this.accepting = false;
    clearTimeout(this.storeRetry);
    const { store, log } = this.deps;
    const inFlight = [...this.running.values()];
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    await Promise.race([Promise.all(inFlight.map((r) => r.done)), graceOver]);
    clearTimeout(timer);
    const interrupted: string[] = [];
    for (const r of this.running.values()) {
      r.abort.abort(new Error('shutting down'));
      const message = `interrupted: the bot shut down while this triage was running (it had ${Math.round(graceMs / 1000)} s to finish)`;
      try {
        if (store.fail(r.job.id, failureVerdict(new TriageError('interrupted', message)), this.now(), ['running'])) interrupted.push(r.job.id);
      } catch (err) {
        // The row stays `running`; the next start marks it interrupted (recover.ts).
        log.error({ triageId: r.job.id, err }, 'cannot mark the triage interrupted: the store cannot be written');
      }
      log.warn({ triageId: r.job.id, node: r.job.node.name }, 'triage interrupted by shutdown');
    }
    // Aborted runs get a moment to stop their children before the store closes under them.
    const settle = new Promise((resolve) => setTimeout(resolve, 2000).unref());
    await Promise.race([Promise.all([...this.running.values()].map((r) => r.done)), settle]);
    const finished = inFlight.map((r) => r.job.id).filter((id) => !interrupted.includes(id));
    this.queue.length = 0;
    return { finished, interrupted };
  }
}
