import type { RunOptions, TriageRecord, TriageResult, TriageStatus, Trigger, AlertTrigger, ManualTrigger, SlackDeliveryState } from '../model/triage.js';
import type { Analysis, Verdict, VerdictKind } from '../model/verdict.js';
import type { HistoryEntry, TriageContext } from '../model/context.js';

/**
 * The store: every triage, its verdict, report and evidence, the queue, the Slack outbox, dedup and cooldown.
 * Two implementations keep the same contract (test/store/contract): the embedded SQLite file (one process) and
 * PostgreSQL (several replicas sharing it). Whatever must hold across replicas (one triage per notification, one
 * running triage per node, each queued triage and each Slack call taken by one replica) is decided here, in one
 * database transaction, never in a replica's memory. Every method may throw TriageError('store_unavailable').
 */

export interface Completion {
  status: 'done' | 'failed';
  verdict: Verdict;
  finishedAt: Date;
  reportMarkdown: string | null;
  /** The raw evidence: the TriageResult as JSON text. */
  resultJson: string;
}

/** One step of an admission batch (one webhook, one Slack command), applied in order in one transaction. */
export type AdmitStep =
  | {
      op: 'alert';
      /** The id the triage gets if it queues (or is dropped). */
      id: string;
      node: string;
      trigger: AlertTrigger;
      dedupKey: string;
      /** Recorded when the queue is full (triage.maxQueued): a dropped triage is stored, never silently lost. */
      dropped: Verdict;
    }
  | { op: 'manual'; id: string; node: string; trigger: ManualTrigger; options: RunOptions; dropped: Verdict }
  | {
      /** The alert resolved: its queued (not running) automatic triages on the node are cancelled with this verdict. */
      op: 'cancel';
      node: string;
      fingerprint: string;
      verdict: Verdict;
    };

export type AdmitResult =
  | { op: 'alert' | 'manual'; status: 'queued'; id: string }
  /** alert: the same notification already started `id`; manual: the node's queued or running triage is `id`. */
  | { op: 'alert' | 'manual'; status: 'duplicate'; id: string }
  /** The node's automatic triage `id`, created at `createdAt`, still holds the cooldown. */
  | { op: 'alert'; status: 'cooldown'; id: string; createdAt: string }
  | { op: 'alert' | 'manual'; status: 'dropped'; id: string }
  | { op: 'cancel'; cancelled: string[] };

export interface AdmitRules {
  /** triage.cooldownSeconds in ms (0: none). */
  cooldownMs: number;
  /** triage.maxQueued, counted over the whole store (every replica's queue is the same table). */
  maxQueued: number;
}

/** A replica's hold on a running triage; renewed while it runs, taken over once it expires. */
export interface Lease {
  owner: string;
  /** ms since the epoch. */
  untilMs: number;
}

export type OutboxState = 'pending' | 'sent' | 'failed';

export interface OutboxRow {
  seq: number;
  triageId: string | null;
  /** What the call is for: start, verdict, resolved, respond. */
  purpose: string;
  /** The call as JSON text (src/notify/slack/outbox-call.ts). */
  callJson: string;
  state: OutboxState;
  attempts: number;
  createdMs: number;
  nextMs: number;
  lastError: string | null;
  /** Set when an attempt to post may have landed without the bot seeing the answer (ms of that attempt). */
  unsureMs: number | null;
}

/**
 * The Slack outbox: every Slack call is a row before it is made, so a crash, a restart or a Slack outage loses
 * none. A triage's rows go strictly one after the other (a verdict must not overtake the start message it
 * updates); a row is claimed by one replica at a time for `claimMs`, so each call is made by one replica.
 */
export interface OutboxStore {
  /**
   * Queues a call; a triage's message (start, verdict, resolved) is queued at most once per purpose, across
   * replicas and restarts: null when it was queued already. Sets the triage's delivery state to pending.
   */
  enqueue(row: { triageId: string | null; purpose: string; callJson: string; atMs: number }): Promise<number | null>;
  /** Claims the oldest eligible row due at `nowMs` for `owner` until `nowMs + claimMs`; other replicas skip it meanwhile. */
  claimDue(nowMs: number, owner: string, claimMs: number): Promise<OutboxRow | undefined>;
  /** When the next eligible row falls due (ms), or undefined when none is pending. */
  nextDueAt(): Promise<number | undefined>;
  get(seq: number): Promise<OutboxRow | undefined>;
  /** A triage's rows in order. */
  forTriage(triageId: string): Promise<OutboxRow[]>;
  markSent(seq: number, atMs: number): Promise<void>;
  markFailed(seq: number, atMs: number, error: string): Promise<void>;
  /** A failed attempt that may succeed later (releases the claim). `countAttempt` is false when the call was not really made. */
  retryAt(seq: number, nextMs: number, error: string, countAttempt?: boolean): Promise<void>;
  /** Written just before a post goes out and kept until its outcome is known; the earliest such attempt is kept. */
  markUnsure(seq: number, atMs: number): Promise<void>;
  clearUnsure(seq: number): Promise<void>;
  /** The bot's message for a triage, once posted. */
  message(triageId: string): Promise<{ channel: string; ts: string } | null>;
  /** Records the bot's message for a triage (null ts: forget it, e.g. someone deleted it). */
  setMessage(triageId: string, channel: string | null, ts: string | null): Promise<void>;
  setState(triageId: string, state: SlackDeliveryState, error: string | null): Promise<void>;
  lastError(triageId: string): Promise<string | null>;
  /** Whether a call for this purpose was ever queued for the triage. */
  hasQueued(triageId: string, purpose: string): Promise<boolean>;
  pendingCount(): Promise<number>;
  triageStates(triageId: string): Promise<Record<OutboxState, number>>;
  /** Finished triages whose start message was queued but whose verdict never was (their message still says "started"). */
  startedWithoutVerdict(): Promise<string[]>;
}

/** Slack requests already handled (Socket Mode and HTTP retries): the first to claim a key handles it. */
export interface DeliveryStore {
  /** True when `key` was not seen before (it is now claimed); false for a repeat. */
  claim(key: string, atMs: number): Promise<boolean>;
  /** The answer given the first time (JSON), or null when none was kept (yet). */
  answer(key: string): Promise<string | null>;
  setAnswer(key: string, answerJson: string): Promise<void>;
  /** Gives a claimed key back when handling it failed, so the redelivery is handled. */
  release(key: string): Promise<void>;
}

export interface StoreHealth {
  /** Schema version found in the store. */
  schemaVersion: number;
  /** What this build knows. */
  latestVersion: number;
}

export interface Store {
  /** 'sqlite' or 'postgres', for logs, doctor and the replica_info metric. */
  readonly kind: 'sqlite' | 'postgres';
  /** Where it is: the SQLite file, or the database URL without its password. */
  readonly location: string;
  /** False once closed. */
  readonly open: boolean;
  readonly outbox: OutboxStore;
  readonly deliveries: DeliveryStore;

  /** Reaches the database and reads its schema version; throws TriageError('store_unavailable') when it cannot. */
  health(): Promise<StoreHealth>;

  /** Applies an admission batch in one transaction; one result per step, in order. */
  admit(steps: readonly AdmitStep[], rules: AdmitRules, now: Date): Promise<AdmitResult[]>;

  /**
   * Takes the oldest queued triage whose node has no running triage: queued → running, held by `lease`.
   * Each queued triage is taken by one caller; a node never has two running triages (the database refuses).
   */
  claimNext(lease: Lease, now: Date): Promise<TriageRecord | null>;
  /** Extends `owner`'s leases on `ids`; returns the ids it still holds (a lost one was taken over). */
  renewLeases(owner: string, ids: readonly string[], untilMs: number): Promise<string[]>;
  /** Running triages whose lease expired before `nowMs` (their replica stopped renewing). */
  expiredLeases(nowMs: number): Promise<TriageRecord[]>;
  /** running (lease expired) → queued again, to be run by whichever replica claims it. False when another replica did first. */
  requeueExpired(id: string, nowMs: number): Promise<boolean>;
  /** How many times the triage was started (claimed). */
  runs(id: string): Promise<number>;

  /** running → done|failed, only while `owner` holds the lease. False otherwise (taken over, or ended meanwhile). */
  complete(id: string, owner: string, c: Completion): Promise<boolean>;
  /**
   * Ends a triage without a run of its own (cancelled, interrupted, crashed), only from one of the given states.
   * For `running`: with `owner` a string, only while that owner holds the lease; with `owner` null, only once the
   * lease expired before `at`; without `owner`, whoever holds it. The lease is cleared.
   */
  fail(id: string, verdict: Verdict, at: Date, from: readonly TriageStatus[], owner?: string | null): Promise<boolean>;

  get(id: string): Promise<TriageRecord | undefined>;
  /** Newest first; `kind` keeps triages with that verdict, `offset` skips that many. */
  list(filter: { node?: string | undefined; kind?: VerdictKind | undefined; limit: number; offset?: number }): Promise<TriageRecord[]>;
  /** The node's finished triages created at or after `since` that really looked at the node, newest first. */
  history(node: string, since: Date, limit: number): Promise<HistoryEntry[]>;
  setContext(id: string, context: TriageContext): Promise<void>;
  report(id: string): Promise<string | undefined>;
  /** The raw evidence (TriageResult JSON text). */
  result(id: string): Promise<string | undefined>;
  /** The stored evidence as the engine produced it, when it is there and whole. */
  evidence(id: string): Promise<TriageResult | null>;
  /** The analysis inside the stored evidence, if it still has its shape. */
  analysis(id: string): Promise<Analysis | null>;
  /** The triage already started by this notification, if any (triages that never ran do not count). */
  findByDedupKey(key: string): Promise<TriageRecord | undefined>;
  /** How many triages are queued (all replicas). */
  queuedCount(): Promise<number>;
  /** Queued and running triages, oldest first. */
  unfinished(): Promise<TriageRecord[]>;
  /** The newest triage this firing of an alert started on the node. */
  latestForAlert(node: string, fingerprint: string, startsAt: string): Promise<TriageRecord | undefined>;
  /** Deletes finished triages created before `before` (their outbox rows with them), and old Slack keys. Returns how many triages. */
  prune(before: Date): Promise<number>;
  close(): Promise<void>;
}

/** How an alert firing is keyed: Alertmanager resends a notification with the same fingerprint and startsAt. */
export function alertDedupKey(fingerprint: string, startsAt: string): string {
  return `${fingerprint}|${startsAt}`;
}

/**
 * Failures that mean "this triage never ran to a verdict": they neither make a resent alert a duplicate nor hold
 * the node in cooldown, so the alert can be triaged when it comes again.
 */
export const NOT_RUN_FOR_DEDUP = ['interrupted', 'queue_full'] as const;
/** A triage cancelled because its alert resolved still dedups the alert, but does not cool the node down. */
export const NOT_RUN_FOR_COOLDOWN = [...NOT_RUN_FOR_DEDUP, 'cancelled'] as const;

export type { TriageRecord, Trigger };
