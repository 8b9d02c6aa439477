import type { Tier } from '../model/facts.js';
import { MAJORITY_SHARE, SHMEM_NOTE_SHARE, SWAP_MEANINGFUL_KB } from '../model/limits.js';
import type { Analysis, Cause, Confidence, MappingFaults, ProcessRank, SystemMemory, Verdict, VerdictKind } from '../model/verdict.js';

/**
 * Draws the verdict from an analysis, following the verdict table (README, Verdicts). With fault addresses, the
 * cause with a clear majority of the resolved samples wins; without them (tier none, or nothing resolved),
 * /proc evidence decides with low confidence, or the verdict is inconclusive.
 */

/**
 * Below this many major faults per second (in both the sample and the capture window), the node is quiet.
 * It is 1% of the alert's 500/s: a few stray faults (a cron job paging in its binary, the tracer itself
 * starting up system-wide) are not an incident, and naming a culprit from a handful of samples would mislead.
 */
export const QUIET_MAX_PER_SEC = 5;

/** Fewer resolved samples than this lower the confidence one step: a share of 12 samples moves 8% per sample. */
export const MIN_SAMPLES = 20;

/** More than this share of unresolved samples lowers the confidence one step: the missing ones may tell another story. */
export const MAX_UNRESOLVED_SHARE = 0.2;

/** pswpin below this share of pgmajfault counts as "no swap-ins" (tier none: file reads are possible). */
export const PSWPIN_NEGLIGIBLE_SHARE = 0.1;

/**
 * Tier none: a process's disk reads "explain" its major faults when read_bytes/s is at least this share of
 * majflt/s × page size. Every file fault reads at least a page (readahead reads more); the slack covers
 * snapshots not taken at exactly the same instant.
 */
export const READ_EXPLAINS_FACTOR = 0.5;

/** Mapping rows carried in the verdict; the analysis keeps them all. */
export const VERDICT_MAPPINGS = 10;

export interface VerdictInput {
  node: string;
  analysis: Analysis;
  /** The node's page size in bytes (NodeInfo.pageSize), to compare read_bytes with faults. */
  pageSize?: number;
  /** vm.page-cluster (NodeInfo.pageCluster): swap readahead reads up to 2^pageCluster pages per swap-in fault. */
  pageCluster?: number;
  /** Length of the whole observed window (sample + capture) for the quiet summary; measured spans otherwise. */
  windowSeconds?: number;
}

const KIND_OF: Record<Exclude<Cause, 'other'>, VerdictKind> = { swap: 'swap-thrash', file: 'mmap-read', code: 'code-reread' };
const CAUSE_WORDS: Record<Cause, string> = { swap: 'swap', file: 'file reads', code: 'program text', other: 'other' };
const CONFIDENCE: readonly Confidence[] = ['low', 'medium', 'high'];
const TIER_CONFIDENCE: Record<Tier, number> = { perf: 2, bpftrace: 1, tracepoint: 1, none: 0 };

interface Culprit {
  summary: string;
  pid: number | null;
  comm: string | null;
  path: string | null;
  deleted: boolean;
}

export function decideVerdict(input: VerdictInput): Verdict {
  const { node, analysis } = input;
  const { capture: cap, system: sys } = analysis;
  const notes: string[] = [];
  for (const u of cap.unavailable) notes.push(`${u.tier} unavailable: ${u.reason}`);

  const base = {
    tracer: cap.tier,
    faultsPerSec: sys.pgmajfaultPerSec,
    mappings: analysis.mappings.slice(0, VERDICT_MAPPINGS),
    failure: null,
  };

  const windowSeconds = input.windowSeconds ?? (sys.windowSeconds ?? 0) + cap.seconds;
  if (isQuiet(analysis)) {
    const seen = Math.round(sys.pgmajfaultPerSec * (sys.windowSeconds ?? 0)) + cap.majfltDelta;
    if (seen > 0) notes.push(`${fmt(seen)} major faults in the window, below ${QUIET_MAX_PER_SEC}/s`);
    return {
      ...base,
      kind: 'quiet',
      summary: `no major faults on ${node} during the ${Math.round(windowSeconds)} s window`,
      pid: null,
      comm: null,
      path: null,
      // The kernel's own counter says so, whatever tracer was used.
      confidence: 'high',
      // Nothing stands behind a quiet verdict; stray (or, with the tracepoint tier, minor) faults stay in the analysis.
      mappings: [],
      notes,
    };
  }

  const minorIncluded = cap.majorSamples < cap.samples;
  if (minorIncluded) {
    notes.push('addresses include minor faults (the tracer cannot tell them apart): shares are of all page faults, not only major ones');
  }

  if (cap.pidsGone?.length) notes.push(`exited before the capture: pid ${cap.pidsGone.join(', ')}`);
  if (cap.pidsExited?.length) notes.push(`exited during the capture: pid ${cap.pidsExited.join(', ')} (its faults after that were not recorded)`);
  const rate = headlineRate(analysis);
  if (rate.perSec < sys.alertThresholdPerSec) {
    notes.push(`${fmt(rate.perSec)} major faults/s during the ${rate.window} window, below the alert threshold of ${fmt(sys.alertThresholdPerSec)}/s`);
  }
  const windows = windowsNote(analysis);
  if (windows) notes.push(windows);

  const sampled = sampledNote(cap);
  if (sampled) notes.push(sampled);

  for (const r of analysis.reconciliation ?? []) {
    if (!r.undercounted) continue;
    const period = r.period ?? 1;
    const recorded = period > 1 ? `about ${fmt(r.samples * period)} (${fmt(r.samples)} samples, 1 in ${fmt(period)})` : fmt(r.samples);
    notes.push(
      `pid ${r.pid} (${r.comm}) took about ${fmt(r.majflt)} major faults (majflt) in the capture window but ${cap.tier} recorded ${recorded} ` +
        `(${pct(r.coverage)}, against ${pct(r.othersCoverage ?? 1)} for the other processes): ` +
        'faults the kernel takes on its behalf (madvise MADV_POPULATE_READ, direct I/O into a mapping, /proc/PID/mem) count in majflt but fire no perf event, so its share is under-counted',
    );
  }

  if (cap.tier === 'none' || cap.resolved === 0) {
    if (cap.tier !== 'none') {
      notes.push(
        cap.samples === 0
          ? `${cap.tier} recorded no major faults while the node counted ${fmt(cap.majfltDelta)} in the ${fmt(cap.seconds)} s capture window: decided from /proc evidence`
          : `none of the ${fmt(cap.samples)} samples resolved to a mapping: decided from /proc evidence`,
      );
    }
    return exitedDuringCapture({ ...base, ...fromProcEvidence(input, notes), notes }, cap.pidsExited);
  }
  return exitedDuringCapture({ ...base, ...fromAddresses(input, notes, minorIncluded), notes }, cap.pidsExited);
}

/**
 * With a sampling period, say how many faults each sample stands for and why: counts in the report are samples,
 * shares and the verdict are not affected.
 */
function sampledNote(cap: Analysis['capture']): string | null {
  const period = cap.period ?? 1;
  if (period <= 1) return null;
  const why = cap.periodRate === undefined ? 'the node faulted faster than the sample cap holds' : `the node made ${fmt(cap.periodRate)} major faults/s just before the capture, more than the sample cap holds`;
  return `1 in ${fmt(period)} major faults sampled (perf -c ${period}): ${why}; the fault counts are samples, each standing for ${fmt(period)} faults`;
}

/**
 * When the two windows disagree on whether the node was quiet, say what each counted, so that a headline rate
 * from one window is never read against the other window's samples.
 */
function windowsNote({ system: sys, capture: cap }: Analysis): string | null {
  const capturePerSec = cap.seconds > 0 ? cap.majfltDelta / cap.seconds : 0;
  if (cap.seconds <= 0 || (sys.pgmajfaultPerSec < QUIET_MAX_PER_SEC) === (capturePerSec < QUIET_MAX_PER_SEC)) return null;
  const sampleSpan = sys.windowSeconds === undefined ? '' : ` ${fmt(sys.windowSeconds)} s`;
  return (
    `${fmt(sys.pgmajfaultPerSec)} major faults/s in the${sampleSpan} sample window, ` +
    `${fmt(cap.majfltDelta)} major faults (${fmt(capturePerSec)}/s) in the ${fmt(cap.seconds)} s capture window, ` +
    (cap.period !== undefined && cap.period > 1
      ? `${fmt(cap.majorSamples)} samples of them recorded by the tracer (1 in ${fmt(cap.period)})`
      : `${fmt(cap.majorSamples)} of them recorded by the tracer`)
  );
}

/** A culprit that exited mid-capture was seen for part of the window only: one step less confident. */
function exitedDuringCapture(v: Verdict, exited: readonly number[] | undefined): Verdict {
  if (v.pid === null || !exited?.includes(v.pid) || v.confidence === null) return v;
  const i = Math.max(0, CONFIDENCE.indexOf(v.confidence) - 1);
  return { ...v, confidence: CONFIDENCE[i]! };
}

function isQuiet({ system: sys, capture: cap }: Analysis): boolean {
  const perCaptureSec = (n: number): number => (cap.seconds > 0 ? n / cap.seconds : n);
  return (
    sys.pgmajfaultPerSec < QUIET_MAX_PER_SEC &&
    perCaptureSec(cap.majfltDelta) < QUIET_MAX_PER_SEC &&
    perCaptureSec(cap.majorSamples * (cap.period ?? 1)) < QUIET_MAX_PER_SEC
  );
}

type Decision = Pick<Verdict, 'kind' | 'summary' | 'pid' | 'comm' | 'path' | 'confidence'>;

function fromAddresses(input: VerdictInput, notes: string[], minorIncluded: boolean): Decision {
  const { node, analysis } = input;
  const { capture: cap, shares } = analysis;
  const causes = (['swap', 'file', 'code', 'other'] as const)
    .map((cause) => ({ cause, share: shares[cause] }))
    .sort((a, b) => b.share - a.share);
  const top = causes[0]!;
  const second = causes[1]!;

  let kind: VerdictKind;
  let culprit: Culprit;
  if (top.share >= MAJORITY_SHARE && top.cause !== 'other') {
    kind = KIND_OF[top.cause];
    culprit = describe(top.cause, analysis);
  } else if (top.share >= MAJORITY_SHARE) {
    kind = 'inconclusive';
    const c = describe('other', analysis);
    culprit = { ...c, summary: `most major faults on ${node} are ${c.summary}, not swap, file or program text` };
  } else {
    kind = 'mixed';
    const a = describe(top.cause, analysis);
    const b = describe(second.cause, analysis);
    culprit = { ...a, summary: `${a.summary} + ${b.summary}` };
    notes.push(
      `no cause reaches ${pct(MAJORITY_SHARE)}: ${causes.filter((c) => c.share > 0).map((c) => `${CAUSE_WORDS[c.cause]} ${pct(c.share)}`).join(', ')}`,
    );
  }

  let level = TIER_CONFIDENCE[cap.tier];
  if (cap.resolved < MIN_SAMPLES) {
    notes.push(`only ${fmt(cap.resolved)} resolved samples`);
    level--;
  }
  const unresolved = cap.samples - cap.resolved;
  if (unresolved > 0) {
    notes.push(`${fmt(unresolved)} of ${fmt(cap.samples)} samples unresolved (process exited or its maps were read too late)`);
    if (unresolved / cap.samples > MAX_UNRESOLVED_SHARE) level--;
  }
  const contradiction = crossCheck(kind, analysis.system, readaheadPages(input.pageCluster));
  if (contradiction) {
    notes.push(contradiction);
    // With minor faults mixed in, /proc is the better witness of what the major ones were.
    if (minorIncluded) level--;
  }
  if (cap.lost > 0) notes.push(`${fmt(cap.lost)} samples lost by the tracer`);

  const shmem = analysis.mappings.filter((m) => m.kind === 'shmem');
  const shmemFaults = shmem.reduce((n, m) => n + m.faults, 0);
  if (cap.resolved > 0 && shmemFaults / cap.resolved >= SHMEM_NOTE_SHARE) {
    notes.push(`${pct(shmemFaults / cap.resolved)} of resolved faults are in shared memory (${shmem[0]!.label}), which is swap-backed: counted as swap`);
  }
  if (culprit.deleted && culprit.path) notes.push(`${culprit.path} has been deleted but is still mapped`);
  presenceNote(analysis.processes, culprit.pid, notes);

  return {
    kind,
    summary: culprit.summary,
    pid: culprit.pid,
    comm: culprit.comm,
    path: culprit.path,
    confidence: CONFIDENCE[Math.max(0, level)]!,
  };
}

/** The mapping-level story for one cause: the top process for swap, the top file and its top reader otherwise. */
function describe(cause: Cause, analysis: Analysis): Culprit {
  const rows = analysis.mappings.filter((m) => m.cause === cause && m.kind !== 'unresolved');
  if (cause === 'swap') {
    const { pid, comm } = topPid(rows);
    return { summary: `swap thrash in pid ${pid} (${comm})`, pid, comm, path: null, deleted: false };
  }
  if (cause === 'other') {
    const { pid, comm } = topPid(rows);
    const label = rows.find((m) => m.pid === pid)?.label ?? 'special mappings';
    return { summary: `faults in ${label} of pid ${pid} (${comm})`, pid, comm, path: null, deleted: false };
  }
  // Per file across processes, so a file mapped twice, or by several readers, counts once.
  const file = analysis.files.find((f) => f.cause === cause);
  const path = file?.path ?? rows[0]?.path ?? null;
  const inFile = rows.filter((m) => m.path === path);
  const { pid, comm } = topPid(inFile.length > 0 ? inFile : rows);
  const deleted = inFile.some((m) => m.deleted);
  const summary =
    cause === 'file' ? `mmap reads of ${path} by pid ${pid} (${comm})` : `program text of ${path} re-read by pid ${pid} (${comm})`;
  return { summary, pid, comm, path, deleted };
}

function topPid(rows: readonly MappingFaults[]): { pid: number; comm: string } {
  const totals = new Map<number, { faults: number; comm: string }>();
  for (const m of rows) {
    const t = totals.get(m.pid);
    if (t) t.faults += m.faults;
    else totals.set(m.pid, { faults: m.faults, comm: m.comm });
  }
  let best: { pid: number; comm: string; faults: number } | null = null;
  for (const [pid, t] of totals) {
    if (!best || t.faults > best.faults || (t.faults === best.faults && pid < best.pid)) best = { pid, ...t };
  }
  // Callers only describe causes with a non-zero share, so rows is never empty.
  return best ?? { pid: -1, comm: '?' };
}

/** vm.page-cluster's default (3): up to 8 pages read per swap-in fault. */
export const DEFAULT_PAGE_CLUSTER = 3;

/** The most pages one swap-in fault reads: the faulting page plus swap readahead. */
export function readaheadPages(pageCluster: number | undefined): number {
  return 2 ** Math.min(10, pageCluster ?? DEFAULT_PAGE_CLUSTER);
}

/**
 * pswpin counts pages read from swap, readahead included, not faults: a swap-in fault reads one page and up to
 * `readahead - 1` more. So the node's swap-in faults per second lie between pswpin / readahead and pswpin
 * (capped by the node's major faults); 0 without swap.
 */
export function swapInFaultBounds(sys: SystemMemory, readahead: number): { min: number; max: number } {
  if (sys.swapTotalKb === 0 || sys.pgmajfaultPerSec <= 0) return { min: 0, max: 0 };
  const max = Math.min(sys.pgmajfaultPerSec, sys.pswpinPerSec);
  return { min: Math.min(max, sys.pswpinPerSec / readahead), max };
}

/** pswpin per major fault, capped at 1: the most the swap-ins can be of the node's major faults. */
function swapRatio(sys: SystemMemory): number {
  if (sys.swapTotalKb === 0 || sys.pgmajfaultPerSec <= 0) return 0;
  return Math.min(1, sys.pswpinPerSec / sys.pgmajfaultPerSec);
}

/**
 * Does /proc contradict what the addresses say? Only where pswpin, counted in pages, still proves it: too few
 * pages read from swap for a swap verdict, or so many that even at full readahead most faults were swap-ins.
 */
function crossCheck(kind: VerdictKind, sys: SystemMemory, readahead: number): string | null {
  if (sys.pgmajfaultPerSec < QUIET_MAX_PER_SEC) return null;
  if (kind === 'swap-thrash' && swapRatio(sys) < PSWPIN_NEGLIGIBLE_SHARE) {
    const why = sys.swapTotalKb === 0 ? 'the node has no swap' : `pswpin is only ${fmt(sys.pswpinPerSec)}/s (zswap hits do not count there)`;
    return `${why} against ${fmt(sys.pgmajfaultPerSec)} major faults/s: not all of these faults may be swap-ins`;
  }
  const { min } = swapInFaultBounds(sys, readahead);
  if ((kind === 'mmap-read' || kind === 'code-reread') && min / sys.pgmajfaultPerSec >= MAJORITY_SHARE) {
    return `pswpin ${fmt(sys.pswpinPerSec)} pages/s means at least ${fmt(min)} swap-in faults/s even at ${readahead} pages per fault, ${pct(min / sys.pgmajfaultPerSec)} of the node's major faults: some faults the tracer missed were swap-ins`;
  }
  return null;
}

/** What one faulting process's own /proc evidence says its major faults are. */
export type ProcessEvidence = 'swap' | 'file' | 'unknown';

export interface ClassifiedProcess {
  process: ProcessRank;
  evidence: ProcessEvidence;
  /** The evidence in words, for a note. */
  why: string;
}

/**
 * Per process, from its own counters: memory in swap (VmSwap, or smaps Swap with shared memory) means its major
 * faults can be swap-ins, and its disk reads then include them (swap-ins count in read_bytes, readahead too);
 * nothing in swap and disk reads that match its faults mean file reads. Anything else is unknown.
 */
export function classifyProcess(p: ProcessRank, analysis: Analysis, pageSize: number, swapInsMaxPerSec: number): ClassifiedProcess {
  const swapKb = swapOf(p, analysis);
  const reads = p.readBytesPerSec;
  const readsExplain = reads !== null && reads >= p.majfltPerSec * pageSize * READ_EXPLAINS_FACTOR;
  const readWords = reads === null ? 'disk reads unknown' : `reads ${fmtBytes(reads)}/s from disk`;
  const head = `pid ${p.pid} (${p.comm}) ${fmt(p.majfltPerSec)} major faults/s, ${readWords}`;
  if (swapKb >= SWAP_MEANINGFUL_KB) {
    const growth = p.swapGrowthKb ? `, ${p.swapGrowthKb > 0 ? 'up' : 'down'} ${fmtKb(Math.abs(p.swapGrowthKb))}` : '';
    return { process: p, evidence: 'swap', why: `${head}, ${fmtKb(swapKb)} in swap${growth}: swap-ins` };
  }
  const swapKnown = p.swapKb !== null;
  if (swapKnown && readsExplain) return { process: p, evidence: 'file', why: `${head}, nothing in swap: file reads` };
  if (readsExplain && swapInsMaxPerSec < p.majfltPerSec * PSWPIN_NEGLIGIBLE_SHARE) {
    return { process: p, evidence: 'file', why: `${head}, and the node reads almost nothing from swap: file reads` };
  }
  return { process: p, evidence: 'unknown', why: `${head}, ${swapKnown ? 'nothing in swap' : 'swap unknown'}: cannot tell` };
}

const sumRates = (xs: readonly ClassifiedProcess[]): number => xs.reduce((n, c) => n + c.process.majfltPerSec, 0);

/**
 * Tier none, or no address resolved: decide from each faulting process's own evidence (its majflt rate, what
 * it has in swap, its disk reads), with low confidence. pswpin is pages, readahead included, so it bounds the
 * node's swap-in faults rather than counting them; it decides alone only when no process's evidence does.
 */
function fromProcEvidence(input: VerdictInput, notes: string[]): Decision {
  const { node, analysis, pageSize = 4096 } = input;
  const sys = analysis.system;
  const readahead = readaheadPages(input.pageCluster);
  const faulting = analysis.processes.filter((p) => p.majfltPerSec > 0);
  const top: ProcessRank | null = faulting[0] ?? null;
  const bounds = swapInFaultBounds(sys, readahead);
  // Processes with a stray fault or two are not evidence worth a note.
  const noteworthy = (c: ClassifiedProcess): boolean => c.process.majfltPerSec >= Math.max(1, (top?.majfltPerSec ?? 0) * 0.01);
  const classified = faulting.map((p) => classifyProcess(p, analysis, pageSize, bounds.max));
  const swapping = classified.filter((c) => c.evidence === 'swap');
  const reading = classified.filter((c) => c.evidence === 'file');
  const unknown = classified.filter((c) => c.evidence === 'unknown');
  const swapSeen =
    sys.swapTotalKb === 0
      ? 'the node has no swap'
      : `pswpin ${fmt(sys.pswpinPerSec)} pages/s (readahead included, up to ${readahead} per fault): ${fmt(bounds.min)}–${fmt(bounds.max)} of the ${fmt(sys.pgmajfaultPerSec)} major faults/s are swap-ins`;

  // Unknown processes' faults are not swap-ins when the swap-in pages left after the swapping processes (each
  // swap-in fault reads at least one page) cannot cover a meaningful part of them.
  const pagesLeft = Math.max(0, bounds.max - sumRates(swapping));
  const unknownRate = sumRates(unknown);
  const unknownNotSwap = unknownRate > 0 && pagesLeft < unknownRate * PSWPIN_NEGLIGIBLE_SHARE;

  if (swapping.length + reading.length > 0) {
    const total = sumRates(classified);
    // Swap-in faults cannot outnumber the pages read from swap: the swapping processes' faults beyond pswpin
    // are something else (or zswap hits, which pswpin does not count).
    const swapShare = Math.min(sumRates(swapping), sys.swapTotalKb === 0 ? 0 : sys.pswpinPerSec) / total;
    const fileShare = sumRates(reading) / total;
    // The swap culprit's own evidence follows in swapNotes (VmSwap, shared memory): not twice.
    const evidenceNotes = (except: ProcessRank | null = null): void => {
      notes.push(swapSeen);
      for (const c of classified.filter(noteworthy).slice(0, 3)) if (c.process !== except) notes.push(c.why);
    };
    if (swapShare >= MAJORITY_SHARE) {
      const culprit = swapping[0]!.process;
      evidenceNotes(culprit);
      if (top && culprit !== top) notes.push(`pid ${top.pid} (${top.comm}) faults more but has nothing in swap; pid ${culprit.pid} (${culprit.comm}) has`);
      swapNotes(culprit, analysis, notes);
      notes.push('without fault addresses, which of its mappings fault is unknown');
      presenceNote(analysis.processes, culprit.pid, notes);
      return swapVerdict(culprit);
    }
    if (fileShare >= MAJORITY_SHARE || (reading.length > 0 && swapping.length === 0 && unknownNotSwap)) {
      const culprit = reading[0]!.process;
      evidenceNotes();
      notes.push('without fault addresses the file is unknown, and program text read again looks the same from /proc');
      presenceNote(analysis.processes, culprit.pid, notes);
      return { kind: 'mmap-read', summary: `mmap reads by pid ${culprit.pid} (${culprit.comm})`, pid: culprit.pid, comm: culprit.comm, path: null, confidence: 'low' };
    }
    if (swapping.length > 0 && reading.length > 0 && swapShare + fileShare >= MAJORITY_SHARE) {
      const s = swapping[0]!.process;
      const f = reading[0]!.process;
      const first = s.majfltPerSec >= f.majfltPerSec ? s : f;
      const parts = [`swap thrash in pid ${s.pid} (${s.comm})`, `mmap reads by pid ${f.pid} (${f.comm})`];
      evidenceNotes();
      notes.push(`no cause reaches ${pct(MAJORITY_SHARE)}: swap ${pct(swapShare)}, file reads ${pct(fileShare)}${unknownRate > 0 ? `, unknown ${pct(unknownRate / total)}` : ''}`);
      return { kind: 'mixed', summary: first === s ? parts.join(' + ') : [...parts].reverse().join(' + '), pid: first.pid, comm: first.comm, path: null, confidence: 'low' };
    }
  } else if (top && swapRatio(sys) >= MAJORITY_SHARE) {
    // No process's own evidence decides (its swap and disk reads unreadable): the node's counters alone. pswpin
    // is then an upper bound on the swap-ins, which is all /proc has.
    notes.push(`pswpin ${fmt(sys.pswpinPerSec)}/s against ${fmt(sys.pgmajfaultPerSec)} major faults/s (${pct(swapRatio(sys))}; pages, readahead included)`);
    swapNotes(top, analysis, notes);
    notes.push('without fault addresses, which of its mappings fault is unknown');
    presenceNote(analysis.processes, top.pid, notes);
    return swapVerdict(top);
  }

  const seen = [`pswpin ${fmt(sys.pswpinPerSec)} pages/s`];
  const reads = top?.readBytesPerSec ?? null;
  if (top) {
    seen.push(`top pid ${top.pid} (${top.comm}) ${fmt(top.majfltPerSec)}/s, disk read ${reads === null ? 'unknown' : `${fmtBytes(reads)}/s`}`);
  } else {
    seen.push('no process showed majflt growth');
  }
  if (top && swapOf(top, analysis) >= SWAP_MEANINGFUL_KB) swapNotes(top, analysis, notes);
  for (const c of classified.filter(noteworthy).slice(0, 3)) notes.push(c.why);
  const missing = analysis.capture.tier === 'none' ? 'no fault addresses to tell swap-ins from file reads' : 'no fault address resolved to a mapping';
  notes.push(
    `/proc cannot decide: swap needs processes with memory in swap taking ${pct(MAJORITY_SHARE)} of the faults, file reads need processes with nothing in swap whose disk reads match their faults`,
  );
  const rate = headlineRate(analysis);
  return {
    kind: 'inconclusive',
    summary: `${fmt(rate.perSec)} major faults/s on ${node} in the ${rate.window} window (${seen.join('; ')}) but ${missing}`,
    ...(top ? { pid: top.pid, comm: top.comm } : { pid: null, comm: null }),
    path: null,
    confidence: 'low',
  };
}

function swapVerdict(p: ProcessRank): Decision {
  return { kind: 'swap-thrash', summary: `swap thrash in pid ${p.pid} (${p.comm})`, pid: p.pid, comm: p.comm, path: null, confidence: 'low' };
}

/**
 * The node's major-fault rate a headline states, and which window it is from: the busier of the sample window
 * (vmstat over the rank) and the capture window (pgmajfault delta over the tracer's run), the one that made the
 * verdict not quiet.
 */
export function headlineRate(analysis: Analysis): { perSec: number; window: 'sample' | 'capture' } {
  const sample = analysis.system.pgmajfaultPerSec;
  const cap = analysis.capture;
  const capture = cap.seconds > 0 ? cap.majfltDelta / cap.seconds : 0;
  return capture > sample ? { perSec: capture, window: 'capture' } : { perSec: sample, window: 'sample' };
}

/** kB a process has in swap: VmSwap, or smaps Swap (which adds shared memory) when that is larger. */
function swapOf(p: ProcessRank, analysis: Analysis): number {
  const smaps = (analysis.swapped ?? []).filter((m) => m.pid === p.pid).reduce((n, m) => n + m.swapKb, 0);
  return Math.max(p.swapKb ?? 0, smaps);
}

/** What /proc says about one process's swap: VmSwap and its growth, and shared memory in swap (smaps). */
function swapNotes(p: ProcessRank, analysis: Analysis, notes: string[]): void {
  if (p.swapKb !== null) {
    const growth = p.swapGrowthKb;
    const trend =
      growth === null || growth === undefined
        ? ''
        : growth === 0
          ? ', unchanged over the window'
          : `, ${growth > 0 ? 'up' : 'down'} ${fmtKb(Math.abs(growth))} over the window`;
    notes.push(`pid ${p.pid} has ${fmtKb(p.swapKb)} of anonymous memory in swap (VmSwap${trend})`);
  }
  const rows = (analysis.swapped ?? []).filter((m) => m.pid === p.pid);
  const total = rows.reduce((n, m) => n + m.swapKb, 0);
  const shmem = rows.filter((m) => m.kind === 'shmem');
  const shmemKb = shmem.reduce((n, m) => n + m.swapKb, 0);
  if (total > 0 && shmemKb / total >= SHMEM_NOTE_SHARE) {
    notes.push(
      `${pct(shmemKb / total)} of what pid ${p.pid} has in swap is shared memory (${shmem[0]!.label}, ${fmtKb(shmemKb)}), which is swap-backed: its faults are swap-ins, not file reads`,
    );
  } else if ((p.swapKb ?? 0) < SWAP_MEANINGFUL_KB && analysis.swapped === undefined) {
    notes.push(
      `pid ${p.pid} has almost no anonymous memory in swap: its swap-ins are likely shared memory (tmpfs, /dev/shm, SysV), which VmSwap does not count (/proc/PID/smaps, which would tell, could not be read)`,
    );
  } else if ((p.swapKb ?? 0) < SWAP_MEANINGFUL_KB && total < SWAP_MEANINGFUL_KB) {
    notes.push(`pid ${p.pid} has almost nothing in swap (VmSwap and smaps): the swap-ins may be another process's`);
  }
}

function presenceNote(processes: readonly ProcessRank[], pid: number | null, notes: string[]): void {
  const p = processes.find((x) => x.pid === pid);
  if (p?.presence === 'exited' || p?.presence === 'brief') notes.push(`pid ${p.pid} exited during the window`);
  else if (p?.presence === 'started') notes.push(`pid ${p.pid} started during the window`);
}

function fmt(n: number): string {
  if (Math.abs(n) >= 10 || Number.isInteger(n)) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(1);
}

function pct(share: number): string {
  return `${Math.round(share * 100)}%`;
}

function fmtBytes(bytesPerSec: number): string {
  return `${(bytesPerSec / 1e6).toFixed(1)} MB`;
}

function fmtKb(kb: number): string {
  if (kb < 1024) return `${Math.round(kb)} kB`;
  return kb >= 1024 * 1024 ? `${(kb / 1024 / 1024).toFixed(1)} GiB` : `${Math.round(kb / 1024).toLocaleString('en-US')} MiB`;
}
