import type { Config, NodeConfig } from '../config/schema.js';
import { asTriageError, TriageError } from '../errors.js';
import type { Log } from '../log.js';
import { failureVerdict } from '../model/failure.js';
import { newTriageId } from '../model/ids.js';
import type { Admission, AlertTrigger, ManualTrigger, RunOptions, TriageRecord, Trigger } from '../model/triage.js';
import { isStoreError, STORE_RETRY_MS } from '../store/store-errors.js';
import { alertDedupKey, type AdmitResult, type AdmitStep, type Store } from '../store/store.js';

/**
 * Dispatch: decides whether a request becomes a triage (dedup, cooldown, queue cap) and when it runs. The queue is
 * the store's: every replica admits into it and claims from it, and the database decides (one triage per
 * notification, one running triage per node, each queued triage claimed once). This replica runs at most
 * `triage.maxConcurrent` at a time, each under a lease it renews every `leaseSeconds / 3`; a triage whose lease
 * expired (its replica died) is put back in the queue and run again by whichever replica claims it, or recorded as
 * interrupted when it is older than `requeueMaxAgeSeconds` or was started MAX_RUNS times already.
 * Execution itself is injected.
 */

export interface Job {
  id: string;
  node: NodeConfig;
  trigger: Trigger;
  options: RunOptions;
  createdAt: string;
  /** Set when the job starts. */
  startedAt?: string;
  /** Which replica runs it (the lease owner): only it may store the verdict. */
  owner: string;
  /** Aborted when this replica loses the lease (another replica took the triage over). */
  signal?: AbortSignal;
}

/** Runs a job to its stored verdict. Called after the store marked it running. */
export type Execute = (job: Job, signal: AbortSignal) => Promise<void>;

/** A request to admit, as intake has it. */
export type AdmitRequest =
  | { op: 'alert'; node: NodeConfig; trigger: AlertTrigger }
  | { op: 'manual'; node: NodeConfig; trigger: ManualTrigger; options?: RunOptions }
  | { op: 'cancel'; node: string; fingerprint: string; message: string };

export type AdmitOutcome = Admission | { status: 'cancelled'; ids: string[] };

/** A triage started this many times (each run cut short by a replica dying) is not started again. */
export const MAX_RUNS = 3;
/** How often a replica looks for work queued by others and for expired leases, when nothing woke it sooner. */
const POLL_MS = 1000;

/** Ids and nodes named in a queue-full warning; the count covers the rest. */
const DROPPED_LISTED = 20;

export interface DispatcherDeps {
  triage: Config['triage'];
  store: Store;
  execute: Execute;
  log: Log;
  /** The node a stored triage names, or undefined when it is no longer in the inventory. */
  nodeNamed: (name: string) => NodeConfig | undefined;
  /** This replica's name (lease owner). */
  replica: string;
  now?: () => Date;
  pollMs?: number;
  /** Told of leases taken over from a replica that stopped renewing them. */
  onTakeover?: (record: TriageRecord, outcome: 'requeued' | 'interrupted') => void;
}

interface Running {
  job: Job;
  abort: AbortController;
  done: Promise<void>;
}

export class Dispatcher {
  private readonly deps: DispatcherDeps;
  private readonly now: () => Date;
  private readonly leaseMs: number;
  private readonly running = new Map<string, Running>();
  private pumping: Promise<void> | null = null;
  private pumpAgain = false;
  private pumpScheduled = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  /** Set while the store refuses writes: the queue is tried again when it fires. */
  private storeRetry: NodeJS.Timeout | undefined;
  private accepting = true;
  private started = false;
  /** Set by the poll timer: the next look also sweeps expired leases and recounts the queue (once a poll, not per triage). */
  private sweepDue = true;
  /** Whether the last look at the queue found nothing this replica could start. */
  private queueSeemsEmpty = false;
  private queuedSeen = 0;
  private idleWaiters: (() => void)[] = [];
  /** Triages dropped (queue full) in this turn of the event loop, logged as one line at its end. */
  private dropped: { ids: string[]; nodes: Set<string>; count: number } | null = null;

  constructor(deps: DispatcherDeps) {
    this.deps = deps;
    this.now = deps.now ?? (() => new Date());
    this.leaseMs = deps.triage.leaseSeconds * 1000;
  }

  /** Triages queued in the store (all replicas), as of the last look. */
  get queuedCount(): number {
    return this.queuedSeen;
  }

  /** Triages this replica runs now (each holds a lease). */
  get runningCount(): number {
    return this.running.size;
  }

  get isAccepting(): boolean {
    return this.accepting;
  }

  /** Starts taking work from the store: at once, on every admission here, and every poll for work admitted elsewhere. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const pollMs = this.deps.pollMs ?? POLL_MS;
    this.pollTimer = setInterval(() => {
      this.sweepDue = true;
      this.schedulePump();
    }, pollMs).unref();
    this.renewTimer = setInterval(() => void this.renew(), Math.max(200, Math.floor(this.leaseMs / 3))).unref();
    this.schedulePump();
  }

  /**
   * Admits a batch (one webhook, one request) in one store transaction. Resolved alerts cancel their queued
   * triages; firing ones are deduped on fingerprint + startsAt and cooled down per node; someone's request gets
   * the node's queued or running triage when it has one. Past maxQueued a triage is recorded as dropped.
   */
  async admit(requests: readonly AdmitRequest[]): Promise<AdmitOutcome[]> {
    const { store, triage, log } = this.deps;
    const now = this.now();
    const dropped = (id: string) =>
      failureVerdict(new TriageError('queue_full', `dropped: the queue is full (triage.maxQueued = ${triage.maxQueued}); recorded as failed triage ${id}`));
    const steps: AdmitStep[] = requests.map((r): AdmitStep => {
      if (r.op === 'cancel') {
        return { op: 'cancel', node: r.node, fingerprint: r.fingerprint, verdict: failureVerdict(new TriageError('cancelled', r.message)) };
      }
      const id = newTriageId();
      if (r.op === 'alert') {
        return { op: 'alert', id, node: r.node.name, trigger: r.trigger, dedupKey: alertDedupKey(r.trigger.fingerprint, r.trigger.startsAt), dropped: dropped(id) };
      }
      return { op: 'manual', id, node: r.node.name, trigger: r.trigger, options: r.options ?? {}, dropped: dropped(id) };
    });
    const results = await store.admit(steps, { cooldownMs: triage.cooldownSeconds * 1000, maxQueued: triage.maxQueued }, now);
    const outcomes = results.map((res, i) => this.outcome(requests[i]!, res));
    for (const [i, o] of outcomes.entries()) {
      const r = requests[i]!;
      if (o.status === 'queued') log.info({ triageId: o.id, node: o.node, trigger: r.op === 'alert' ? 'alert' : 'manual' }, 'triage queued');
      if (o.status === 'dropped') this.noteDropped(o.id, o.node);
      if (o.status === 'cancelled') for (const id of o.ids) log.info({ triageId: id, node: (r as { node: string }).node }, 'triage cancelled: alert resolved');
    }
    // Kept in step here (exact for one replica), and read back from the store after each look at the queue.
    for (const o of outcomes) {
      if (o.status === 'queued') this.queuedSeen++;
      if (o.status === 'cancelled') this.queuedSeen = Math.max(0, this.queuedSeen - o.ids.length);
    }
    if (outcomes.some((o) => o.status === 'queued')) {
      this.queueSeemsEmpty = false;
      this.schedulePump();
    }
    return outcomes;
  }

  private outcome(r: AdmitRequest, res: AdmitResult): AdmitOutcome {
    if (res.op === 'cancel') return { status: 'cancelled', ids: res.cancelled };
    const node = (r as { node: NodeConfig }).node.name;
    switch (res.status) {
      case 'queued':
      case 'duplicate':
        return { status: res.status, id: res.id, node };
      case 'dropped':
        return { status: 'dropped', id: res.id, node, reason: `the queue is full (triage.maxQueued = ${this.deps.triage.maxQueued}); recorded as failed triage ${res.id}` };
      case 'cooldown': {
        const until = new Date(Date.parse(res.createdAt) + this.deps.triage.cooldownSeconds * 1000).toISOString();
        return {
          status: 'cooldown',
          id: res.id,
          node,
          reason: `node ${node} is in cooldown: triage ${res.id} was started by an alert at ${res.createdAt}; the next automatic triage can start after ${until}`,
        };
      }
    }
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
    if (!this.started || this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump().catch((err: unknown) => this.deps.log.error({ err }, 'dispatcher crashed while taking triages from the queue'));
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = this.pumpOnce();
    try {
      await this.pumping;
    } finally {
      this.pumping = null;
      if (this.pumpAgain) {
        this.pumpAgain = false;
        this.schedulePump();
      }
      this.notifyIdle();
    }
  }

  private async pumpOnce(): Promise<void> {
    const { store, log, triage } = this.deps;
    if (!this.accepting || !store.open) return;
    const sweep = this.sweepDue;
    this.sweepDue = false;
    try {
      if (sweep) await this.takeOverExpired();
      while (this.accepting && this.running.size < triage.maxConcurrent) {
        const now = this.now();
        const record = await store.claimNext({ owner: this.deps.replica, untilMs: now.getTime() + this.leaseMs }, now);
        if (!record) {
          this.queueSeemsEmpty = true;
          break;
        }
        this.queueSeemsEmpty = false;
        this.queuedSeen = Math.max(0, this.queuedSeen - 1);
        await this.startClaimed(record, now);
      }
    } catch (err) {
      if (!isStoreError(err)) throw err;
      log.error({ err }, 'cannot take triages from the queue: the store is unavailable; retrying');
      this.storeRetry ??= setTimeout(() => {
        this.storeRetry = undefined;
        this.schedulePump();
      }, STORE_RETRY_MS);
    }
    try {
      if (sweep && store.open) this.queuedSeen = await store.queuedCount();
    } catch (err) {
      if (!isStoreError(err)) throw err;
    }
  }

  /** Runs a claimed triage here, unless its node left the inventory. */
  private async startClaimed(record: TriageRecord, now: Date): Promise<void> {
    const { store, log, replica } = this.deps;
    const node = this.deps.nodeNamed(record.node);
    if (!node) {
      const message = `interrupted: node ${record.node} is no longer in the inventory`;
      await store.fail(record.id, failureVerdict(new TriageError('interrupted', message)), now, ['running'], replica);
      log.warn({ triageId: record.id, node: record.node }, 'triage not started: its node is no longer in the inventory');
      return;
    }
    this.run({ id: record.id, node, trigger: record.trigger, options: record.options, createdAt: record.createdAt, startedAt: now.toISOString(), owner: replica });
  }

  /**
   * Running triages whose lease expired: their replica stopped renewing (killed, cut off from the database). Each
   * goes back to the queue to run again, once, by whoever claims it; past requeueMaxAgeSeconds or MAX_RUNS it is
   * recorded as interrupted. The store's conditional updates let one replica win when several look at once.
   */
  private async takeOverExpired(): Promise<void> {
    const { store, log, triage } = this.deps;
    const now = this.now();
    for (const r of await store.expiredLeases(now.getTime())) {
      if (this.running.has(r.id)) continue; // ours, renewal late: the renew timer settles it
      const ageMs = now.getTime() - Date.parse(r.createdAt);
      const runs = await store.runs(r.id);
      if (ageMs <= triage.requeueMaxAgeSeconds * 1000 && runs < MAX_RUNS) {
        if (await store.requeueExpired(r.id, now.getTime())) {
          log.warn({ triageId: r.id, node: r.node, runs }, 'triage run interrupted: the replica running it stopped renewing its lease; it runs again');
          this.deps.onTakeover?.(r, 'requeued');
          this.queueSeemsEmpty = false;
        }
        continue;
      }
      const why =
        runs >= MAX_RUNS
          ? `it was started ${runs} times and each run was cut short`
          : `it was ${Math.round(ageMs / 1000)} s old (triage.requeueMaxAgeSeconds = ${triage.requeueMaxAgeSeconds})`;
      const message = `interrupted: the replica running this triage stopped (its lease expired), and it is not run again: ${why}`;
      if (await store.fail(r.id, failureVerdict(new TriageError('interrupted', message)), now, ['running'], null)) {
        log.warn({ triageId: r.id, node: r.node, runs }, 'triage marked interrupted: its replica stopped renewing the lease');
        this.deps.onTakeover?.(r, 'interrupted');
      }
    }
  }

  /** Extends this replica's leases; a run whose lease was lost (taken over after a long stall) is aborted. */
  private async renew(): Promise<void> {
    if (this.running.size === 0) return;
    const ids = [...this.running.keys()];
    try {
      const held = new Set(await this.deps.store.renewLeases(this.deps.replica, ids, this.now().getTime() + this.leaseMs));
      for (const id of ids) {
        const r = this.running.get(id);
        if (!r || held.has(id) || !this.running.has(id)) continue;
        this.deps.log.warn({ triageId: id, node: r.job.node.name }, 'lease lost: another replica took this triage over; stopping this run');
        r.abort.abort(new TriageError('interrupted', 'another replica took this triage over'));
      }
    } catch (err) {
      if (!isStoreError(err)) throw err;
      // The database is away: runs go on and keep their verdicts in memory; leases expire if it stays away.
      this.deps.log.warn({ err: String((err as Error).message) }, 'cannot renew leases: the store is unavailable');
    }
  }

  private run(job: Job): void {
    const { store, execute, log, replica } = this.deps;
    const abort = new AbortController();
    job.signal = abort.signal;
    const done = Promise.resolve()
      .then(() => execute(job, abort.signal))
      .catch(async (err: unknown) => {
        const e = asTriageError(err);
        log.error({ triageId: job.id, node: job.node.name, err: e }, 'triage crashed');
        try {
          if (store.open) await store.fail(job.id, failureVerdict(new TriageError(e.code, `the triage crashed: ${e.message}`)), this.now(), ['running'], replica);
        } catch (storeErr) {
          log.error({ triageId: job.id, err: storeErr }, 'cannot record the crash: the store cannot be written');
        }
      })
      .finally(() => {
        this.running.delete(job.id);
        this.schedulePump();
      });
    this.running.set(job.id, { job, abort, done });
  }

  private notifyIdle(): void {
    if (this.running.size > 0 || this.pumpScheduled || this.pumping || (!this.queueSeemsEmpty && this.accepting && this.started)) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once this replica runs nothing and found nothing it could start (tests, and draining). */
  idle(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.schedulePump();
      this.notifyIdle();
    });
  }

  /**
   * Stops starting triages and gives the running ones `graceMs` to finish. Those still running then are aborted
   * and marked interrupted. Queued ones stay queued in the store: another replica, or the next process, runs them.
   */
  async close(graceMs: number): Promise<{ finished: string[]; interrupted: string[] }> {
    this.accepting = false;
    clearTimeout(this.storeRetry);
    clearInterval(this.pollTimer);
    await this.pumping;
    const { store, log, replica } = this.deps;
    const inFlight = [...this.running.values()];
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    // Leases are still renewed while the grace runs, so no other replica takes a finishing triage over.
    await Promise.race([Promise.all(inFlight.map((r) => r.done)), graceOver]);
    clearInterval(this.renewTimer);
    clearTimeout(timer);
    const interrupted: string[] = [];
    for (const r of this.running.values()) {
      r.abort.abort(new Error('shutting down'));
      const message = `interrupted: the bot shut down while this triage was running (it had ${Math.round(graceMs / 1000)} s to finish)`;
      try {
        if (await store.fail(r.job.id, failureVerdict(new TriageError('interrupted', message)), this.now(), ['running'], replica)) interrupted.push(r.job.id);
      } catch (err) {
        // The row stays `running`; its lease expires and another replica (or the next start) takes it over.
        log.error({ triageId: r.job.id, err }, 'cannot mark the triage interrupted: the store cannot be written');
      }
      log.warn({ triageId: r.job.id, node: r.job.node.name }, 'triage interrupted by shutdown');
    }
    // Aborted runs get a moment to stop their children before the store closes under them.
    const settle = new Promise((resolve) => setTimeout(resolve, 2000).unref());
    await Promise.race([Promise.all([...this.running.values()].map((r) => r.done)), settle]);
    const finished = inFlight.map((r) => r.job.id).filter((id) => !interrupted.includes(id));
    this.notifyIdle();
    return { finished, interrupted };
  }
}
