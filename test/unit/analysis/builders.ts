import type {
  CaptureFacts,
  FaultSample,
  MapEntry,
  NodeInfo,
  ProcDetail,
  ProcSnapshot,
  RankFacts,
  Tier,
  Vmstat,
} from '../../../src/model/facts.js';

/** Small builders for synthetic facts: every field has a plain default, tests override what they check. */

export const PAGE = 4096;

export function nodeInfo(over: Partial<NodeInfo> = {}): NodeInfo {
  return {
    hostname: 'node-1',
    kernel: '6.1.0-26-amd64',
    uid: 0,
    pageSize: PAGE,
    nproc: 8,
    perfEventParanoid: 2,
    tools: { perf: '/usr/bin/perf', bpftrace: null },
    tmpfsMounts: ['/dev/shm', '/run', '/tmp'],
    ...over,
  };
}

export function mapEntry(start: number, end: number, path = '', perms = 'rw-p', over: Partial<MapEntry> = {}): MapEntry {
  const onDisk = path.startsWith('/') && !path.startsWith('/dev/') && !path.startsWith('/SYSV');
  return { start, end, perms, offset: 0, dev: onDisk ? '08:01' : '00:00', inode: path === '' ? 0 : 1234, path, ...over };
}

export function procDetail(pid: number, over: Partial<ProcDetail> = {}): ProcDetail {
  return {
    pid,
    comm: `proc${pid}`,
    cmdline: `/usr/bin/proc${pid} --serve`,
    uid: 1000,
    user: 'app',
    cgroup: ['0::/system.slice/app.service'],
    vmSwapKb: 0,
    maps: [],
    ...over,
  };
}

export function sample(pid: number, addr: number, major: boolean | null = true, time = 0): FaultSample {
  return { pid, tid: pid, time, addr, major };
}

/** `count` samples spread over `pages` pages from `start`. */
export function samplesIn(pid: number, start: number, count: number, major: boolean | null = true, pages = 64): FaultSample[] {
  return Array.from({ length: count }, (_, i) => sample(pid, start + (i % pages) * PAGE + 8, major, i / 1000));
}

export interface ProcSeries {
  pid: number;
  comm?: string;
  /** majflt at each snapshot; undefined = not present. */
  majflt: readonly (number | undefined)[];
  /** read_bytes at each snapshot; undefined = not readable. */
  readBytes?: readonly (number | undefined)[];
}

export interface RankSpec {
  node?: Partial<NodeInfo>;
  /** Snapshot times; default 0..5 s, one a second. */
  times?: readonly number[];
  procs?: readonly ProcSeries[];
  pgmajfault?: readonly number[];
  pswpin?: readonly number[];
  pswpout?: readonly number[];
  psi?: RankFacts['psi'];
  memory?: Partial<RankFacts['memory']>;
}

const DEFAULT_TIMES = [100, 101, 102, 103, 104, 105];

export function rankFacts(spec: RankSpec = {}): RankFacts {
  const times = spec.times ?? DEFAULT_TIMES;
  const snapshots: ProcSnapshot[] = times.map((t, i) => {
    const procs: ProcSnapshot['procs'] = [];
    const readBytes: Record<string, number> = {};
    for (const p of spec.procs ?? []) {
      const majflt = p.majflt[i];
      if (majflt === undefined) continue;
      procs.push({ pid: p.pid, comm: p.comm ?? `proc${p.pid}`, state: 'R', ppid: 1, minflt: 0, majflt });
      const rb = p.readBytes?.[i];
      if (rb !== undefined) readBytes[String(p.pid)] = rb;
    }
    return { t, procs, readBytes };
  });
  const counter = (xs: readonly number[] | undefined, i: number): number => xs?.[i] ?? xs?.[xs.length - 1] ?? 0;
  const vmstat: Vmstat[] = times.map((t, i) => ({
    t,
    pgmajfault: counter(spec.pgmajfault, i),
    pswpin: counter(spec.pswpin, i),
    pswpout: counter(spec.pswpout, i),
  }));
  return {
    node: nodeInfo(spec.node),
    snapshots,
    vmstat,
    psi: spec.psi ?? null,
    memory: { memTotalKb: 16_000_000, memAvailableKb: 1_000_000, swapTotalKb: 2_000_000, swapFreeKb: 600_000, ...spec.memory },
  };
}

/** A steady node counter over the default window: `perSec` a second. */
export function steady(perSec: number, times: readonly number[] = DEFAULT_TIMES, from = 1_000_000): number[] {
  return times.map((t) => from + Math.round(perSec * (t - times[0]!)));
}

export function captureFacts(
  over: Partial<Omit<CaptureFacts, 'procs'>> & { procs?: readonly ProcDetail[] | CaptureFacts['procs'] } = {},
): CaptureFacts {
  const tier: Tier = over.tier ?? 'perf';
  const list = over.procs;
  const procs = isDetailList(list) ? Object.fromEntries(list.map((p) => [String(p.pid), p])) : (list ?? {});
  return {
    tier,
    attempts: over.attempts ?? [{ tier, ok: true, reason: `${tier} works` }],
    seconds: over.seconds ?? 5,
    samples: over.samples ?? [],
    lost: over.lost ?? 0,
    procs,
    vmstat: over.vmstat ?? [
      { t: 106, pgmajfault: 0, pswpin: 0, pswpout: 0 },
      { t: 111, pgmajfault: 0, pswpin: 0, pswpout: 0 },
    ],
  };
}

function isDetailList(x: readonly ProcDetail[] | CaptureFacts['procs'] | undefined): x is readonly ProcDetail[] {
  return Array.isArray(x);
}

/** Capture vmstat where the node took `perSec` major faults a second for `seconds`. */
export function captureVmstat(perSec: number, seconds = 5): Vmstat[] {
  return [
    { t: 106, pgmajfault: 2_000_000, pswpin: 0, pswpout: 0 },
    { t: 106 + seconds, pgmajfault: 2_000_000 + perSec * seconds, pswpin: 0, pswpout: 0 },
  ];
}

// Typical x86-64 user-space addresses for synthetic maps.
export const ADDR = {
  text: 0x5555_5555_4000,
  heap: 0x5555_5600_0000,
  anon: 0x7f3a_0000_0000,
  file: 0x7f40_0000_0000,
  lib: 0x7f50_0000_0000,
  shm: 0x7f60_0000_0000,
  stack: 0x7ffd_0000_0000,
} as const;

export const MB = 0x10_0000;

/** A process with the usual layout: binary text, heap, a big anonymous arena, a data file, libc, shm and stack. */
export function typicalProc(pid: number, over: Partial<ProcDetail> = {}): ProcDetail {
  const comm = over.comm ?? `proc${pid}`;
  return procDetail(pid, {
    comm,
    maps: [
      mapEntry(ADDR.text, ADDR.text + MB, `/usr/bin/${comm}`, 'r-xp'),
      mapEntry(ADDR.heap, ADDR.heap + 64 * MB, '[heap]'),
      mapEntry(ADDR.anon, ADDR.anon + 512 * MB, ''),
      mapEntry(ADDR.file, ADDR.file + 512 * MB, '/data/block', 'r--s'),
      mapEntry(ADDR.lib, ADDR.lib + 2 * MB, '/usr/lib/x86_64-linux-gnu/libc.so.6', 'r-xp'),
      mapEntry(ADDR.shm, ADDR.shm + 64 * MB, '/dev/shm/cache', 'rw-s', { dev: '00:1a' }),
      mapEntry(ADDR.stack, ADDR.stack + MB, '[stack]'),
      mapEntry(0x7fff_f7fc_1000, 0x7fff_f7fc_3000, '[vdso]', 'r-xp'),
    ],
    ...over,
  });
}

export type Where = keyof typeof ADDR | 'vdso';

export interface ScenarioSpec {
  node?: string;
  tier?: Tier;
  /** Captured samples per pid and mapping of typicalProc. */
  faults?: Record<number, Partial<Record<Where, number>>>;
  comm?: Record<number, string>;
  /** Samples of pids whose maps could not be read. */
  exited?: Record<number, number>;
  /** `major` of every sample; default: null for tracepoint, true otherwise. */
  major?: boolean | null;
  /** Node pgmajfault/s over the sample window; default 1000. Processes get shares of it like their samples. */
  nodePerSec?: number;
  pswpinPerSec?: number;
  /** Per pid disk read bytes/s; default none readable. */
  readBytesPerSec?: Record<number, number>;
  /** Processes ranked without captured samples (tier none): pid → majflt/s. */
  rates?: Record<number, number>;
  vmSwapKb?: Record<number, number>;
  swapTotalKb?: number;
  lost?: number;
  attempts?: CaptureFacts['attempts'];
  /** pgmajfault/s during the capture window; default nodePerSec. */
  capturePerSec?: number;
  overrides?: Record<number, Partial<ProcDetail>>;
}

const WHERE_ADDR: Record<Where, number> = { ...ADDR, vdso: 0x7fff_f7fc_1000 };

/** Consistent rank and capture facts for one triage, for analyze(). */
export function scenario(spec: ScenarioSpec = {}) {
  const tier = spec.tier ?? 'perf';
  const major = spec.major !== undefined ? spec.major : tier === 'tracepoint' ? null : true;
  const nodePerSec = spec.nodePerSec ?? 1000;
  const faults = spec.faults ?? {};
  const comm = (pid: number) => spec.comm?.[pid] ?? `proc${pid}`;

  const samples: FaultSample[] = [];
  const totals = new Map<number, number>();
  for (const [pidText, where] of Object.entries(faults)) {
    const pid = Number(pidText);
    for (const [w, count] of Object.entries(where) as [Where, number][]) {
      samples.push(...samplesIn(pid, WHERE_ADDR[w], count, major, w === 'vdso' ? 2 : 64));
      totals.set(pid, (totals.get(pid) ?? 0) + count);
    }
  }
  for (const [pidText, count] of Object.entries(spec.exited ?? {})) {
    const pid = Number(pidText);
    samples.push(...samplesIn(pid, ADDR.heap, count, major));
    totals.set(pid, (totals.get(pid) ?? 0) + count);
  }
  const all = [...totals.values()].reduce((a, b) => a + b, 0);
  const rates = new Map<number, number>(Object.entries(spec.rates ?? {}).map(([p, r]) => [Number(p), r]));
  for (const [pid, n] of totals) if (!rates.has(pid)) rates.set(pid, (nodePerSec * n) / all);

  const procs: ProcSeries[] = [...rates].map(([pid, rate]) => ({
    pid,
    comm: comm(pid),
    majflt: DEFAULT_TIMES.map((t) => Math.round(rate * (t - DEFAULT_TIMES[0]!))),
    ...(spec.readBytesPerSec?.[pid] === undefined
      ? {}
      : { readBytes: DEFAULT_TIMES.map((t) => Math.round(spec.readBytesPerSec![pid]! * (t - DEFAULT_TIMES[0]!))) }),
  }));
  const rank = rankFacts({
    procs,
    pgmajfault: steady(nodePerSec),
    pswpin: steady(spec.pswpinPerSec ?? 0),
    memory: spec.swapTotalKb === undefined ? {} : { swapTotalKb: spec.swapTotalKb, swapFreeKb: spec.swapTotalKb },
  });
  const details = Object.keys(faults).map((p) => {
    const pid = Number(p);
    return typicalProc(pid, { comm: comm(pid), vmSwapKb: spec.vmSwapKb?.[pid] ?? 0, ...spec.overrides?.[pid] });
  });
  const capture = captureFacts({
    tier,
    samples: tier === 'none' ? [] : samples,
    procs: details,
    lost: spec.lost ?? 0,
    vmstat: captureVmstat(spec.capturePerSec ?? nodePerSec),
    ...(spec.attempts ? { attempts: spec.attempts } : {}),
  });
  return { node: spec.node ?? 'node-1', rank, capture, topProcesses: 5 };
}
