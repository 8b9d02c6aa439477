/** Admission steps and runs for the store contract: what the dispatcher asks of any store. */
import { expect } from 'vitest';
import { TriageError } from '../../../src/errors.js';
import { failureVerdict } from '../../../src/model/failure.js';
import { newTriageId } from '../../../src/model/ids.js';
import type { AlertTrigger, ManualTrigger, RunOptions, TriageRecord } from '../../../src/model/triage.js';
import { alertDedupKey, type AdmitRules, type AdmitStep, type Completion, type Store } from '../../../src/store/store.js';
import { verdictOf } from '../../support/service.js';

/** A fixed clock: every time in the contract tests is explicit. */
export const T0 = Date.parse('2026-11-30T10:00:00.000Z');
export const at = (ms: number): Date => new Date(T0 + ms);

export const RULES: AdmitRules = { cooldownMs: 0, maxQueued: 1000 };

export const alertTrigger = (fingerprint = 'aaaa', startsAt = '2026-11-27T03:12:00Z'): AlertTrigger => ({
  kind: 'alert',
  alertname: 'NodeMemoryMajorPagesFaults',
  fingerprint,
  startsAt,
  labels: { instance: 'node-1:9100' },
  annotations: {},
});

export const dropped = () => failureVerdict(new TriageError('queue_full', 'dropped: the queue is full'));

export function alertStep(over: { id?: string; node?: string; fingerprint?: string; startsAt?: string } = {}): Extract<AdmitStep, { op: 'alert' }> {
  const trigger = alertTrigger(over.fingerprint, over.startsAt);
  return { op: 'alert', id: over.id ?? newTriageId(), node: over.node ?? 'node-1', trigger, dedupKey: alertDedupKey(trigger.fingerprint, trigger.startsAt), dropped: dropped() };
}

export function manualStep(over: { id?: string; node?: string; trigger?: ManualTrigger; options?: RunOptions } = {}): Extract<AdmitStep, { op: 'manual' }> {
  return { op: 'manual', id: over.id ?? newTriageId(), node: over.node ?? 'node-1', trigger: over.trigger ?? { kind: 'cli' }, options: over.options ?? {}, dropped: dropped() };
}

export const cancelStep = (node: string, fingerprint: string): AdmitStep => ({
  op: 'cancel',
  node,
  fingerprint,
  verdict: failureVerdict(new TriageError('cancelled', 'the alert resolved before the triage started')),
});

let fingerprints = 0;
/** Queues a triage (an alert of its own) on `node` at `when`; returns its id. */
export async function queue(store: Store, node = 'node-1', when = at(0), fingerprint = `fp-${++fingerprints}`): Promise<string> {
  const step = alertStep({ node, fingerprint });
  const [r] = await store.admit([step], RULES, when);
  expect(r).toEqual({ op: 'alert', status: 'queued', id: step.id });
  return step.id;
}

/** Queues a triage and starts it for `owner`; returns it as claimed. */
export async function started(store: Store, node = 'node-1', owner = 'replica-a', untilMs = T0 + 60_000): Promise<TriageRecord> {
  const id = await queue(store, node);
  const t = await store.claimNext({ owner, untilMs }, at(1));
  expect(t?.id).toBe(id);
  return t!;
}

export const completion = (kind: 'quiet' | 'mmap-read' = 'quiet', when = at(5000)): Completion => ({
  status: 'done',
  verdict: verdictOf(kind, kind === 'quiet' ? 'no major faults' : 'mmap reads of /block by pid 4242 (reader)'),
  finishedAt: when,
  reportMarkdown: '# report',
  resultJson: '{"raw":true}',
});

export const failed = (code: 'interrupted' | 'cancelled' | 'queue_full' = 'interrupted') => failureVerdict(new TriageError(code, code));
