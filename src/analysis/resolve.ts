import type { FaultSample, MapEntry, ProcDetail } from '../model/facts.js';
import type { Cause, FileFaults, MappingFaults } from '../model/verdict.js';
import { buildIntervalIndex, type IntervalIndex } from './interval-index.js';
import { classifyMapping } from './mapping-kind.js';

/**
 * Resolves captured fault addresses against each process's /proc/PID/maps and counts them per
 * (pid, mapping) and per file.
 *
 * Counted samples are those that may be major faults: `major` true, or null when the tracer cannot tell
 * (the tracepoint tier, whose addresses include minor faults). Known minor faults are dropped.
 * Shares are of all counted samples, unresolved ones included, so a table of mappings adds up to 100%.
 */

export interface Resolution {
  /** Per (pid, mapping), largest first; unresolved samples get one `unresolved` row per pid. */
  mappings: MappingFaults[];
  /** Per (path, kind) across processes, for mappings that have a path; largest first. */
  files: FileFaults[];
  /** Samples that may be major faults (major true or null). */
  counted: number;
  /** Samples known to be major faults. */
  major: number;
  resolved: number;
  unresolved: number;
  /** Of the unresolved: the pid had no maps (exited, or not read). */
  unresolvedNoMaps: number;
  /** Resolved samples by cause. */
  byCause: Record<Cause, number>;
  /** Some counted samples may be minor faults (major === null). */
  minorIncluded: boolean;
  /**
   * For one file of `files` (its kind and path): each resolved fault's offset in the file, and the extent mapped
   * (every mapping of the file, faulting or not). Gathered when asked, for the one file hot regions are drawn for:
   * gathering them for every file cost more than resolving.
   */
  fileOffsets(kind: FileFaults['kind'], path: string): { offsets: number[]; extentBytes: number } | undefined;
}

export interface ResolveOptions {
  /** tmpfs/shmem mount points of the node (NodeInfo.tmpfsMounts). */
  tmpfsMounts?: readonly string[];
  /** A name for pids that have no ProcDetail (e.g. the last comm seen while ranking). */
  commOf?: (pid: number) => string | undefined;
}

interface PidState {
  detail: ProcDetail | undefined;
  index: IntervalIndex | null;
  counts: Uint32Array;
  unresolved: number;
}

export function resolveSamples(
  samples: readonly FaultSample[],
  procs: Readonly<Record<string, ProcDetail>>,
  options: ResolveOptions = {},
): Resolution {
  const tmpfsMounts = options.tmpfsMounts ?? [];
  const pids = new Map<number, PidState>();
  const stateOf = (pid: number): PidState => {
    let st = pids.get(pid);
    if (!st) {
      const detail = procs[String(pid)];
      const maps = detail?.maps ?? [];
      st = {
        detail,
        index: maps.length > 0 ? buildIntervalIndex(maps) : null,
        counts: new Uint32Array(maps.length),
        unresolved: 0,
      };
      pids.set(pid, st);
    }
    return st;
  };

  let counted = 0;
  let major = 0;
  let unresolved = 0;
  let unresolvedNoMaps = 0;
  let minorIncluded = false;
  // The mapping each sample resolved to (-1: not counted or unresolved), for fileOffsets to reuse.
  const hit = new Int32Array(samples.length).fill(-1);
  for (let k = 0; k < samples.length; k++) {
    const s = samples[k]!;
    if (s.major === false) continue;
    counted++;
    if (s.major === true) major++;
    else minorIncluded = true;
    const st = stateOf(s.pid);
    const i = st.index ? st.index.lookup(s.addr) : -1;
    if (i >= 0) {
      st.counts[i]!++;
      hit[k] = i;
    } else {
      st.unresolved++;
      unresolved++;
      if (!st.index) unresolvedNoMaps++;
    }
  }

  const share = (faults: number): number => (counted > 0 ? faults / counted : 0);
  const byCause: Record<Cause, number> = { swap: 0, file: 0, code: 0, other: 0 };
  const mappings: MappingFaults[] = [];
  for (const [pid, st] of pids) {
    const comm = st.detail?.comm ?? options.commOf?.(pid) ?? '?';
    const maps = st.detail?.maps ?? [];
    st.counts.forEach((faults, i) => {
      if (faults === 0) return;
      const m = maps[i]!;
      const c = classifyMapping(m, tmpfsMounts);
      byCause[c.cause] += faults;
      mappings.push({
        pid,
        comm,
        path: c.path,
        label: c.label,
        kind: c.kind,
        cause: c.cause,
        deleted: c.deleted,
        start: m.start,
        end: m.end,
        faults,
        share: share(faults),
      });
    });
    if (st.unresolved > 0) {
      mappings.push({
        pid,
        comm,
        path: null,
        label: st.index ? 'outside every mapping' : 'no maps (process exited or not read)',
        kind: 'unresolved',
        cause: 'other',
        deleted: false,
        start: 0,
        end: 0,
        faults: st.unresolved,
        share: share(st.unresolved),
      });
    }
  }
  mappings.sort((a, b) => b.faults - a.faults || a.pid - b.pid || a.start - b.start);

  const fileOffsets = (kind: FileFaults['kind'], path: string): { offsets: number[]; extentBytes: number } | undefined => {
    if (kind !== 'file-data' && kind !== 'file-code') return undefined;
    const offsets: number[] = [];
    let extentBytes = 0;
    // Per process, which of its mappings are the file (classified once each, not once per fault).
    const isFile = new Map<number, Uint8Array>();
    for (const [pid, st] of pids) {
      const maps = st.detail?.maps ?? [];
      let flags: Uint8Array | undefined;
      maps.forEach((m, i) => {
        if (m.path !== path && !m.path.startsWith(`${path} `)) return; // cheap filter before classifying
        const c = classifyMapping(m, tmpfsMounts);
        if (c.kind !== kind || c.path !== path) return;
        (flags ??= new Uint8Array(maps.length))[i] = 1;
        extentBytes = Math.max(extentBytes, m.offset + (m.end - m.start));
      });
      if (flags) isFile.set(pid, flags);
    }
    if (isFile.size === 0) return undefined;
    // Samples come in runs of one pid: look the pid up once per run.
    let lastPid = -1;
    let flags: Uint8Array | undefined;
    let maps: readonly MapEntry[] = [];
    for (let k = 0; k < samples.length; k++) {
      const i = hit[k]!;
      if (i < 0) continue;
      const s = samples[k]!;
      if (s.pid !== lastPid) {
        lastPid = s.pid;
        flags = isFile.get(s.pid);
        maps = flags ? pids.get(s.pid)!.detail!.maps : [];
      }
      if (flags?.[i] !== 1) continue;
      const m = maps[i]!;
      offsets.push(s.addr - m.start + m.offset);
    }
    return { offsets, extentBytes };
  };

  const byFile = new Map<string, FileFaults>();
  for (const m of mappings) {
    if (m.path === null) continue;
    const key = `${m.kind}\0${m.path}`;
    const f = byFile.get(key);
    if (f) {
      f.faults += m.faults;
      if (!f.pids.includes(m.pid)) f.pids.push(m.pid);
    } else {
      byFile.set(key, { path: m.path, kind: m.kind, cause: m.cause, faults: m.faults, share: 0, pids: [m.pid] });
    }
  }
  const files = [...byFile.values()]
    .map((f) => ({ ...f, share: share(f.faults), pids: f.pids.sort((a, b) => a - b) }))
    .sort((a, b) => b.faults - a.faults || a.path.localeCompare(b.path));

  return {
    mappings,
    files,
    counted,
    major,
    resolved: counted - unresolved,
    unresolved,
    unresolvedNoMaps,
    byCause,
    minorIncluded,
    fileOffsets,
  };
}
