import { z } from 'zod';
import { tierRequestSchema, tierSchema } from './facts.js';

/** The analysis of one triage and the verdict drawn from it. */

export const mappingKindSchema = z.enum([
  'anonymous', // no path, [anon:…]
  'heap',
  'stack',
  'shmem', // /dev/shm, memfd:, /SYSV…, /dev/zero (deleted), [anon_shmem:…], files on tmpfs
  'file-data', // file-backed, not executable
  'file-code', // file-backed, executable
  'special', // [vdso], [vvar], [vsyscall] …
  'unresolved', // no mapping contains the address (process gone, or maps read too late)
]);
export type MappingKind = z.infer<typeof mappingKindSchema>;

/** What a major fault in a mapping means: a swap-in, a file read, or program text re-read. */
export const causeSchema = z.enum(['swap', 'file', 'code', 'other']);
export type Cause = z.infer<typeof causeSchema>;

export const mappingFaultsSchema = z.object({
  pid: z.number().int(),
  comm: z.string(),
  /** File path, or null for anonymous memory. */
  path: z.string().nullable(),
  /** Human label: the path, `[heap]`, or `anonymous 7f3a…000–7f3c…000`. */
  label: z.string(),
  kind: mappingKindSchema,
  cause: causeSchema,
  deleted: z.boolean(),
  start: z.number(),
  end: z.number(),
  faults: z.number().int(),
  share: z.number(),
});
export type MappingFaults = z.infer<typeof mappingFaultsSchema>;

export const fileFaultsSchema = z.object({
  path: z.string(),
  kind: mappingKindSchema,
  cause: causeSchema,
  faults: z.number().int(),
  share: z.number(),
  pids: z.array(z.number().int()),
});
export type FileFaults = z.infer<typeof fileFaultsSchema>;

export const whoSchema = z.object({
  cmdline: z.string().nullable(),
  user: z.string().nullable(),
  uid: z.number().int().nullable(),
  cgroup: z.string().nullable(),
  unit: z.string().nullable(),
  container: z.string().nullable(),
  podUid: z.string().nullable(),
});
export type Who = z.infer<typeof whoSchema>;

export const processRankSchema = z.object({
  pid: z.number().int(),
  comm: z.string(),
  majflt: z.number(),
  majfltPerSec: z.number(),
  readBytesPerSec: z.number().nullable(),
  /** VmSwap in kB: anonymous memory in swap (shared memory is not counted there; see Analysis.swapped). */
  swapKb: z.number().nullable(),
  /**
   * How much VmSwap grew over the sample window, in kB (negative: more came back than went out). Null or
   * absent when the playbook did not read VmSwap per snapshot.
   */
  swapGrowthKb: z.number().nullable().optional(),
  /** Major faults in each second of the sample window. */
  series: z.array(z.number()),
  who: whoSchema.nullable(),
  /**
   * Whether the process was there for the whole sample window, started during it, exited during it,
   * or both ('brief'). Absent means 'whole'. Faults after an exit are not seen.
   */
  presence: z.enum(['whole', 'started', 'exited', 'brief']).optional(),
});
export type ProcessRank = z.infer<typeof processRankSchema>;

export const systemMemorySchema = z.object({
  pgmajfaultPerSec: z.number(),
  pswpinPerSec: z.number(),
  pswpoutPerSec: z.number(),
  series: z.array(z.number()),
  psiSomeAvg10: z.number().nullable(),
  psiFullAvg10: z.number().nullable(),
  /** Share of the window that some task was stalled on memory, from the PSI totals. */
  psiSomeWindow: z.number().nullable(),
  psiFullWindow: z.number().nullable(),
  memTotalKb: z.number(),
  memAvailableKb: z.number(),
  swapTotalKb: z.number(),
  swapUsedKb: z.number(),
  /** The node-mixin alert threshold the node's rate is compared with. */
  alertThresholdPerSec: z.number(),
  /** Length of the sample window the rates above were measured over, in seconds. */
  windowSeconds: z.number().optional(),
});
export type SystemMemory = z.infer<typeof systemMemorySchema>;

export const captureSummarySchema = z.object({
  tier: tierSchema,
  /** What playbook.tracer asked for (`auto` picks the best available). Absent when unknown. */
  requested: tierRequestSchema.optional(),
  reason: z.string(),
  unavailable: z.array(z.object({ tier: tierSchema, reason: z.string() })),
  seconds: z.number(),
  samples: z.number().int(),
  /** Samples known to be major faults (all of them for perf major-faults). */
  majorSamples: z.number().int(),
  resolved: z.number().int(),
  lost: z.number().int(),
  /** pgmajfault delta on the node over the capture window, to compare with samples (× period). */
  majfltDelta: z.number(),
  /**
   * 1 in `period` major faults was recorded (perf -c PERIOD) because the node faulted faster than the sample cap
   * holds: each sample stands for `period` faults. Absent means 1 (every fault).
   */
  period: z.number().int().positive().optional(),
  /** pgmajfault/s on the node just before the capture, which chose the period. */
  periodRate: z.number().nonnegative().optional(),
  /** `pids`: the tracer watched the ranked pids only; `all`: system-wide. Absent when unknown. */
  target: z.enum(['pids', 'all']).optional(),
  /** Ranked pids that had exited before the capture started. */
  pidsGone: z.array(z.number().int()).optional(),
  /** Ranked pids that exited during the capture window. */
  pidsExited: z.array(z.number().int()).optional(),
});
export type CaptureSummary = z.infer<typeof captureSummarySchema>;

/** One mapping of a ranked process with pages in swap, from /proc/PID/smaps. */
export const swappedMappingSchema = z.object({
  pid: z.number().int(),
  comm: z.string(),
  path: z.string().nullable(),
  label: z.string(),
  kind: mappingKindSchema,
  swapKb: z.number(),
});
export type SwappedMapping = z.infer<typeof swappedMappingSchema>;

/**
 * A ranked process's major faults (majflt, scaled to the capture window) against the samples the tracer
 * attributed to it. Faults the kernel takes on a process's behalf (get_user_pages: madvise(MADV_POPULATE_READ),
 * direct I/O into a mapping, /proc/PID/mem) count in majflt but fire no perf event.
 */
export const reconciliationSchema = z.object({
  pid: z.number().int(),
  comm: z.string(),
  /** majflt over the capture window (its rate in the sample window × the capture's seconds). */
  majflt: z.number(),
  samples: z.number().int(),
  /** The capture's sampling period: each sample stands for this many faults. Absent means 1. */
  period: z.number().int().positive().optional(),
  /** samples × period / majflt, capped at 1. */
  coverage: z.number(),
  /** The same for the other ranked processes together; absent when there are none. */
  othersCoverage: z.number().optional(),
  /** Coverage below half the others' with enough faults to tell: the report says so. */
  undercounted: z.boolean(),
});
export type Reconciliation = z.infer<typeof reconciliationSchema>;

/** Where in the verdict's file (mmap-read, code-reread) the faults land, by file offset. */
export const hotRegionsSchema = z.object({
  path: z.string(),
  /** Resolved faults in the file. */
  faults: z.number().int(),
  /** The extent of the file the processes map (largest mapping offset + length), in bytes. */
  extentBytes: z.number(),
  bucketBytes: z.number(),
  /** Faults per bucket of bucketBytes from offset 0: the strip chart. */
  buckets: z.array(z.number().int()),
  /** The hottest ranges (adjacent hot buckets joined), most faults first, at most 5. */
  ranges: z.array(z.object({ start: z.number(), end: z.number(), faults: z.number().int(), share: z.number() })),
  /** Share of the file's faults in all hot ranges together, and their size. */
  hotShare: z.number(),
  hotBytes: z.number(),
  hotRanges: z.number().int(),
});
export type HotRegions = z.infer<typeof hotRegionsSchema>;

export const analysisSchema = z.object({
  processes: z.array(processRankSchema),
  mappings: z.array(mappingFaultsSchema),
  files: z.array(fileFaultsSchema),
  shares: z.object({ swap: z.number(), file: z.number(), code: z.number(), other: z.number() }),
  system: systemMemorySchema,
  capture: captureSummarySchema,
  /**
   * Where the ranked processes' swap is, per mapping, largest first (smaps Swap; includes shared memory).
   * Absent when smaps was not read; empty when nothing was in swap or smaps was unreadable.
   */
  swapped: z.array(swappedMappingSchema).optional(),
  /** Per ranked process, majflt against the tracer's samples (exact major-fault tracers only). Absent otherwise. */
  reconciliation: z.array(reconciliationSchema).optional(),
  /** For a file verdict: where in the top file the faults land. Absent otherwise, or with too few faults. */
  hotRegions: hotRegionsSchema.optional(),
});
export type Analysis = z.infer<typeof analysisSchema>;

export const verdictKindSchema = z.enum(['swap-thrash', 'mmap-read', 'code-reread', 'mixed', 'quiet', 'inconclusive', 'failed']);
export type VerdictKind = z.infer<typeof verdictKindSchema>;

export const confidenceSchema = z.enum(['high', 'medium', 'low']);
export type Confidence = z.infer<typeof confidenceSchema>;

export const failureSchema = z.object({ code: z.string(), message: z.string(), retryable: z.boolean() });
export type Failure = z.infer<typeof failureSchema>;

export const verdictSchema = z.object({
  kind: verdictKindSchema,
  summary: z.string(),
  pid: z.number().int().nullable(),
  comm: z.string().nullable(),
  path: z.string().nullable(),
  confidence: confidenceSchema.nullable(),
  tracer: tierSchema.nullable(),
  /** Major faults per second on the node during the window. */
  faultsPerSec: z.number().nullable(),
  /** Per-mapping counts behind the verdict (largest first, capped). */
  mappings: z.array(mappingFaultsSchema),
  /** Short caveats: degraded tier, process exited, minor faults mixed in… */
  notes: z.array(z.string()),
  failure: failureSchema.nullable(),
});
export type Verdict = z.infer<typeof verdictSchema>;
