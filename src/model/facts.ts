import { z } from 'zod';

/**
 * Facts: what the playbook observed on a node, as typed data. The playbook parser produces these;
 * analysis consumes them. Nothing here is interpreted yet.
 */

export const tierSchema = z.enum(['perf', 'bpftrace', 'tracepoint', 'none']);
export type Tier = z.infer<typeof tierSchema>;

export const nodeInfoSchema = z.object({
  hostname: z.string(),
  kernel: z.string(),
  uid: z.number().int(),
  pageSize: z.number().int().positive(),
  nproc: z.number().int().positive(),
  /** kernel.perf_event_paranoid, null when unreadable. */
  perfEventParanoid: z.number().int().nullable(),
  /** Absolute paths of tools found on the node's PATH, null when missing. */
  tools: z.object({ perf: z.string().nullable(), bpftrace: z.string().nullable() }),
  /** Mount points of tmpfs/shmem filesystems: files there are swap-backed. */
  tmpfsMounts: z.array(z.string()),
  /**
   * vm.page-cluster: swap readahead reads up to 2^pageCluster pages per swap-in fault, all counted in pswpin.
   * Absent when unread (older playbook output).
   */
  pageCluster: z.number().int().nonnegative().optional(),
  /**
   * Whether a 0.1 s `perf record -e major-faults -c 1 -d -a` trial worked on the node, and why not.
   * Absent when perf was not tried (facts built elsewhere than the playbook's probe/rank output).
   */
  perfMajorFaults: z.object({ ok: z.boolean(), reason: z.string() }).optional(),
});
export type NodeInfo = z.infer<typeof nodeInfoSchema>;

export const procStatSchema = z.object({
  pid: z.number().int().positive(),
  comm: z.string(),
  state: z.string(),
  ppid: z.number().int(),
  minflt: z.number().nonnegative(),
  majflt: z.number().nonnegative(),
});
export type ProcStat = z.infer<typeof procStatSchema>;

export const procSnapshotSchema = z.object({
  /** Seconds since boot (/proc/uptime) when the snapshot was taken. */
  t: z.number(),
  procs: z.array(procStatSchema),
  /** /proc/PID/io read_bytes by pid; missing pids could not be read. */
  readBytes: z.record(z.string(), z.number()),
  /**
   * VmSwap (kB of the process's anonymous memory in swap) by pid, only the non-zero ones: a pid present in
   * `procs` and missing here had none. Absent when the playbook did not read it (rank output before version 2).
   */
  vmSwapKb: z.record(z.string(), z.number()).optional(),
  /**
   * true: vmSwapKb lists every process whose VmSwap was read, zeros included, and a pid missing from it was not
   * read (rank output from version 3, which reads it for the processes that fault only).
   */
  vmSwapListed: z.boolean().optional(),
});
export type ProcSnapshot = z.infer<typeof procSnapshotSchema>;

export const vmstatSchema = z.object({
  t: z.number(),
  pgmajfault: z.number(),
  pswpin: z.number(),
  pswpout: z.number(),
});
export type Vmstat = z.infer<typeof vmstatSchema>;

const psiLine = z.object({ avg10: z.number(), avg60: z.number(), avg300: z.number(), total: z.number() });
export const psiSchema = z.object({ some: psiLine, full: psiLine.nullable() });
export type Psi = z.infer<typeof psiSchema>;

export const memorySchema = z.object({
  memTotalKb: z.number(),
  memAvailableKb: z.number(),
  swapTotalKb: z.number(),
  swapFreeKb: z.number(),
});
export type Memory = z.infer<typeof memorySchema>;

export const rankFactsSchema = z.object({
  node: nodeInfoSchema,
  /** At least two snapshots, about one second apart, spanning sampleSeconds. */
  snapshots: z.array(procSnapshotSchema).min(2),
  vmstat: z.array(vmstatSchema).min(2),
  /** PSI at the start and at the end of the window (null when the kernel has no PSI). */
  psi: z.array(psiSchema).length(2).nullable(),
  memory: memorySchema,
});
export type RankFacts = z.infer<typeof rankFactsSchema>;

export const faultSampleSchema = z.object({
  pid: z.number().int(),
  tid: z.number().int(),
  time: z.number(),
  addr: z.number(),
  /** true: a major fault; false: known minor; null: the tracer cannot tell (tracepoint). */
  major: z.boolean().nullable(),
});
export type FaultSample = z.infer<typeof faultSampleSchema>;

export const mapEntrySchema = z.object({
  start: z.number(),
  end: z.number(),
  perms: z.string(),
  offset: z.number(),
  dev: z.string(),
  inode: z.number(),
  /** '' for anonymous memory; `[heap]`, `[stack]`, `[anon:name]`, a file path (maybe with ` (deleted)`). */
  path: z.string(),
});
export type MapEntry = z.infer<typeof mapEntrySchema>;

export const procDetailSchema = z.object({
  pid: z.number().int(),
  comm: z.string(),
  /** NUL-separated argv joined with spaces, truncated on the node. */
  cmdline: z.string(),
  uid: z.number().int().nullable(),
  user: z.string().nullable(),
  /** Raw /proc/PID/cgroup lines (v1 `id:controllers:path` or v2 `0::path`). */
  cgroup: z.array(z.string()),
  vmSwapKb: z.number().nullable(),
  maps: z.array(mapEntrySchema),
  /**
   * Swap kB per mapping from /proc/PID/smaps, keyed by the mapping's start address in hex (as maps prints it),
   * only mappings with something in swap. Unlike vmSwapKb it includes shared memory. Absent when not read.
   */
  smapsSwapKb: z.record(z.string(), z.number()).optional(),
});
export type ProcDetail = z.infer<typeof procDetailSchema>;

export const tierAttemptSchema = z.object({ tier: tierSchema, ok: z.boolean(), reason: z.string() });
export type TierAttempt = z.infer<typeof tierAttemptSchema>;

/** What the bot asked the capture step for: a tier, or `auto` (best available). */
export const tierRequestSchema = z.enum(['auto', 'perf', 'bpftrace', 'tracepoint', 'none']);
export type TierRequest = z.infer<typeof tierRequestSchema>;

export const captureFactsSchema = z.object({
  tier: tierSchema,
  /**
   * The tier that was asked for. A forced tier (not `auto`/`none`) that differs from `tier` was unavailable:
   * the step recorded nothing, and the bot turns that into a `tracer_unavailable` error.
   */
  requested: tierRequestSchema.optional(),
  /** `pids`: the tracer watched the given pids; `all`: system-wide (no pids given, or all of them had exited). */
  target: z.enum(['pids', 'all']).optional(),
  /** Given pids that had already exited when the capture started. */
  pidsGone: z.array(z.number().int()).optional(),
  /** Given pids that exited during the capture window (their later faults were not recorded). */
  pidsExited: z.array(z.number().int()).optional(),
  /** Each tier considered, best first, and why it was or was not used. */
  attempts: z.array(tierAttemptSchema),
  seconds: z.number(),
  /**
   * The tracer recorded 1 in `period` faults (`perf record -c PERIOD`): each sample stands for `period` major
   * faults. Absent means 1 (every fault; other tiers, and output from before sampling).
   */
  period: z.number().int().positive().optional(),
  /** The node's pgmajfault per second just before the window, which chose `period`. Absent when not measured. */
  periodRate: z.number().nonnegative().optional(),
  samples: z.array(faultSampleSchema),
  /** Samples the tracer reported as lost, or cut by the node-side cap. */
  lost: z.number().int().nonnegative(),
  procs: z.record(z.string(), procDetailSchema),
  vmstat: z.array(vmstatSchema),
});
export type CaptureFacts = z.infer<typeof captureFactsSchema>;
