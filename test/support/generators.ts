/**
 * Real major-fault generators for tests.
 *
 * Small C programs (test/support/generators/*.c) are compiled once into a cache
 * dir and started as child processes. They print "ready <pid>" when set up, exit
 * on SIGTERM, and exit by themselves when their parent (the test process) dies.
 *
 * - startFileReader / startCodeReread: file-backed major faults (page cache
 *   evicted with madvise + posix_fadvise every pass), data file on a real disk.
 * - startAnonThrash / startShmThrash: swap-backed major faults: a swap file is
 *   enabled (refcounted across processes) and the generator runs inside a memory
 *   cgroup whose limit is below what it touches.
 *
 * Everything that needs a missing prerequisite (cc, root, swap, a memory
 * cgroup) throws an Error saying exactly what is missing: nothing is skipped.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------------------
// Constants

export const GENERATOR_COMMS = {
  fileReader: 'pft-filereader',
  codeReread: 'pft-codereread',
  anonThrash: 'pft-anonthrash',
  shmThrash: 'pft-shmthrash',
} as const;

export type GeneratorKind = keyof typeof GENERATOR_COMMS;

const SOURCES: Record<GeneratorKind, string> = {
  fileReader: 'file-reader.c',
  codeReread: 'code-reread.c',
  anonThrash: 'anon-thrash.c',
  shmThrash: 'shm-thrash.c',
};

const SOURCE_DIR = fileURLToPath(new URL('./generators/', import.meta.url));

/** Where compiled generators are cached (rebuilt when a source is newer). */
export const GENERATOR_CACHE_DIR = path.join(os.tmpdir(), 'pft-generators');

/** The swap file shared by all swap-backed generators (all processes). */
export const SWAP_FILE = '/var/tmp/pft-swap';
export const SWAP_SIZE_MB = 1024;
const SWAP_USERS_DIR = `${SWAP_FILE}.users`;
const SWAP_LOCK_DIR = `${SWAP_FILE}.lock`;

/** Prefix of everything this module creates (cgroups, temp dirs, /dev/shm files). */
export const TEST_PREFIX = 'pft-test-';

/** Records of created cgroups (one JSON file per cgroup, named by the creating pid), for sweeping after crashes. */
const STATE_DIR = '/var/tmp/pft-test-state';

const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

// ---------------------------------------------------------------------------
// Small helpers

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function errCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

function errText(e: unknown): string {
  if (typeof e === 'object' && e !== null) {
    const o = e as { stderr?: unknown; message?: unknown };
    const stderr = o.stderr === undefined ? '' : String(o.stderr).trim();
    if (stderr) return stderr;
    if (o.message !== undefined) return String(o.message);
  }
  return String(e);
}

function randHex(bytes = 4): string {
  return randomBytes(bytes).toString('hex');
}

function run(cmd: string, args: string[], what: string): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if (errCode(e) === 'ENOENT') throw new Error(`${what}: command not found: ${cmd}`);
    throw new Error(`${what}: \`${[cmd, ...args].join(' ')}\` failed: ${errText(e)}`);
  }
}

function findInPath(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  for (const dir of ['/usr/sbin', '/sbin']) {
    const p = path.join(dir, cmd);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

function requireRoot(what: string): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error(
      `${what} needs root (uid 0), but this process runs as uid ${process.getuid?.() ?? '?'}: ` +
        'run the tests as root',
    );
  }
}

// ---------------------------------------------------------------------------
// /proc readers

export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  minflt: number;
  majflt: number;
  cmajflt: number;
}

/** Parse /proc/PID/stat (comm may contain spaces and ')': split at the LAST ')'). */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`unparsable /proc stat line: ${JSON.stringify(text.slice(0, 80))}`);
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const field = (n: number): number => Number(rest[n - 3]);
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: rest[0] ?? '?',
    ppid: field(4),
    minflt: field(10),
    majflt: field(12),
    cmajflt: field(13),
  };
}

export function readProcStat(pid: number): ProcStat {
  return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

/** Major faults of PID so far: /proc/PID/stat field 12. */
export function majfltOf(pid: number): number {
  return readProcStat(pid).majflt;
}

export function readVmstat(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of fs.readFileSync('/proc/vmstat', 'utf8').split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

/** True while /proc/PID exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const st = readProcStat(pid);
    return st.state !== 'Z' && st.state !== 'X';
  } catch {
    return false;
  }
}

/** Resolves once PID has exited (no /proc entry, or a zombie). */
export async function waitGone(pid: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      let desc = '';
      try {
        const st = readProcStat(pid);
        desc = ` (comm ${st.comm}, state ${st.state})`;
      } catch {
        /* gone meanwhile */
      }
      if (!desc) return;
      throw new Error(`pid ${pid}${desc} still alive after ${timeoutMs} ms`);
    }
    await sleep(25);
  }
}

/** Major faults per second of PID measured over windowMs. */
export async function measureMajfltRate(pid: number, windowMs = 1000): Promise<number> {
  const a = majfltOf(pid);
  const t0 = performance.now();
  await sleep(windowMs);
  const b = majfltOf(pid);
  return ((b - a) * 1000) / (performance.now() - t0);
}

/**
 * Sample PID's major-fault rate in windows of windowMs until it is at least
 * minPerSec; returns the rate reached. Throws when the process dies or on timeout.
 */
export async function waitForMajorFaults(
  pid: number,
  minPerSec: number,
  opts: { timeoutMs?: number; windowMs?: number } = {},
): Promise<number> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const windowMs = opts.windowMs ?? 1000;
  const deadline = Date.now() + timeoutMs;
  let best = 0;
  let comm = '?';
  for (;;) {
    let rate: number;
    try {
      comm = readProcStat(pid).comm;
      rate = await measureMajfltRate(pid, windowMs);
    } catch (e) {
      throw new Error(`waitForMajorFaults: pid ${pid} (${comm}) is gone (${errText(e)}); best rate was ${best.toFixed(0)}/s`);
    }
    best = Math.max(best, rate);
    if (rate >= minPerSec) return rate;
    if (Date.now() + windowMs > deadline) {
      throw new Error(
        `waitForMajorFaults: pid ${pid} (${comm}) did not reach ${minPerSec} major faults/s within ${timeoutMs} ms ` +
          `(best ${best.toFixed(0)}/s over ${windowMs} ms windows)`,
      );
    }
  }
}

// ---------------------------------------------------------------------------
// Building the generators

/** A generator's source is its .c file plus the shared header. */
function sourceMtime(file: string): number {
  return Math.max(fs.statSync(path.join(SOURCE_DIR, file)).mtimeMs, fs.statSync(path.join(SOURCE_DIR, 'generator.h')).mtimeMs);
}

let built: Record<GeneratorKind, string> | undefined;

/** Compile every generator into GENERATOR_CACHE_DIR (once; again when a source is newer). Returns binary paths. */
export function buildGenerators(): Record<GeneratorKind, string> {
  if (built && Object.values(built).every((p) => fs.existsSync(p))) {
    const stale = (Object.keys(SOURCES) as GeneratorKind[]).some(
      (k) => sourceMtime(SOURCES[k]) > fs.statSync(built![k]).mtimeMs,
    );
    if (!stale) return built;
  }
  const cc = process.env.CC ?? 'cc';
  if (!findInPath(cc)) {
    throw new Error(
      `C compiler \`${cc}\` not found in PATH: the fault generators must be compiled ` +
        '(Debian: apt-get install gcc, or build-essential)',
    );
  }
  fs.mkdirSync(GENERATOR_CACHE_DIR, { recursive: true });
  const out = {} as Record<GeneratorKind, string>;
  for (const kind of Object.keys(SOURCES) as GeneratorKind[]) {
    const src = path.join(SOURCE_DIR, SOURCES[kind]);
    if (!fs.existsSync(src)) throw new Error(`generator source missing: ${src}`);
    // One directory per source text: worktrees with different versions of a generator share the cache
    // without running each other's binaries (the file name stays the comm).
    const digest = createHash('sha256').update(fs.readFileSync(src)).update(fs.readFileSync(path.join(SOURCE_DIR, 'generator.h'))).digest('hex').slice(0, 16);
    fs.mkdirSync(path.join(GENERATOR_CACHE_DIR, digest), { recursive: true });
    const bin = path.join(GENERATOR_CACHE_DIR, digest, GENERATOR_COMMS[kind]);
    let fresh = false;
    try {
      fresh = fs.statSync(bin).mtimeMs >= sourceMtime(SOURCES[kind]);
    } catch {
      fresh = false;
    }
    if (!fresh) {
      // Compile under a private name, then rename: safe when several processes build at once.
      const tmp = `${bin}.tmp-${process.pid}-${randHex()}`;
      try {
        execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', tmp, src], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        fs.renameSync(tmp, bin);
      } catch (e) {
        fs.rmSync(tmp, { force: true });
        throw new Error(`compiling ${src} with ${cc} failed: ${errText(e)}`);
      }
    }
    out[kind] = bin;
  }
  built = out;
  return out;
}

// ---------------------------------------------------------------------------
// Temp dirs on a real disk

function fsMagic(p: string): number | undefined {
  try {
    return Number(fs.statfsSync(p).type);
  } catch {
    return undefined;
  }
}

function isMemoryFs(p: string): boolean {
  const t = fsMagic(p);
  return t === TMPFS_MAGIC || t === RAMFS_MAGIC;
}

/** A temp base dir on a disk-backed filesystem: os.tmpdir() unless it is tmpfs, else /var/tmp. */
export function diskTempBase(): string {
  for (const cand of [os.tmpdir(), '/var/tmp']) {
    if (fs.existsSync(cand) && fsMagic(cand) !== undefined && !isMemoryFs(cand)) return cand;
  }
  throw new Error(
    `no disk-backed temp dir: ${os.tmpdir()} and /var/tmp are tmpfs/ramfs or missing; ` +
      'file-backed major faults need a file on a real disk',
  );
}

function pidOfName(name: string): number | undefined {
  const m = new RegExp(`^${TEST_PREFIX}(\\d+)-`).exec(name);
  return m ? Number(m[1]) : undefined;
}

function ownerDead(name: string): boolean {
  const pid = pidOfName(name);
  return pid !== undefined && pid !== process.pid && !fs.existsSync(`/proc/${pid}`);
}

/** Remove pft-test-<pid>-* temp dirs and /dev/shm files left by test processes that are dead; returns them. */
function sweepStaleFiles(): string[] {
  const removed: string[] = [];
  for (const base of new Set<string>([os.tmpdir(), '/var/tmp', '/dev/shm'])) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(base);
    } catch {
      continue;
    }
    for (const n of names) {
      if (!ownerDead(n)) continue;
      fs.rmSync(path.join(base, n), { recursive: true, force: true });
      removed.push(path.join(base, n));
    }
  }
  return removed;
}

async function makeDataFile(sizeMb: number, dir?: string): Promise<{ dir: string; file: string; ownDir: boolean }> {
  if (!(sizeMb > 0)) throw new Error(`sizeMb must be > 0, got ${sizeMb}`);
  let ownDir = false;
  if (!dir) {
    sweepStaleFiles();
    dir = fs.mkdtempSync(path.join(diskTempBase(), `${TEST_PREFIX}${process.pid}-`));
    ownDir = true;
  } else if (isMemoryFs(dir)) {
    throw new Error(`${dir} is tmpfs/ramfs: file-backed major faults need a file on a real disk`);
  }
  const file = path.join(dir, 'data.bin');
  const chunk = randomBytes(1024 * 1024);
  const fh = await fs.promises.open(file, 'w', 0o644);
  try {
    for (let i = 0; i < sizeMb; i++) {
      chunk.writeUInt32LE(i, 0);
      await fh.write(chunk, 0, chunk.length);
    }
    await fh.sync(); // clean pages: posix_fadvise(DONTNEED) can drop them
  } finally {
    await fh.close();
  }
  return { dir, file, ownDir };
}

// ---------------------------------------------------------------------------
// Swap (one file for every process using this module; refcounted by pid files)

function swapsText(): string {
  return fs.readFileSync('/proc/swaps', 'utf8');
}

export function swapIsActive(file = SWAP_FILE): boolean {
  return swapsText()
    .split('\n')
    .slice(1)
    .some((l) => l.split(/\s+/)[0] === file);
}

function withSwapLock<T>(fn: () => T): T {
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      fs.mkdirSync(SWAP_LOCK_DIR);
      fs.writeFileSync(path.join(SWAP_LOCK_DIR, 'owner'), String(process.pid));
      break;
    } catch (e) {
      if (errCode(e) !== 'EEXIST') throw new Error(`swap lock ${SWAP_LOCK_DIR}: ${errText(e)}`);
      let owner = NaN;
      try {
        owner = Number(fs.readFileSync(path.join(SWAP_LOCK_DIR, 'owner'), 'utf8'));
      } catch {
        /* being written, or a crash between mkdir and write */
      }
      let ageMs = 0;
      try {
        ageMs = Date.now() - fs.statSync(SWAP_LOCK_DIR).mtimeMs;
      } catch {
        continue;
      }
      const stale = Number.isInteger(owner) && owner > 0 ? !fs.existsSync(`/proc/${owner}`) : ageMs > 10_000;
      if (stale) {
        fs.rmSync(SWAP_LOCK_DIR, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`swap lock ${SWAP_LOCK_DIR} held by pid ${owner} for too long`);
      sleepSync(50);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(SWAP_LOCK_DIR, { recursive: true, force: true });
  }
}

function liveSwapUsers(): number[] {
  let names: string[] = [];
  try {
    names = fs.readdirSync(SWAP_USERS_DIR);
  } catch {
    return [];
  }
  const live: number[] = [];
  for (const n of names) {
    const pid = Number(n);
    if (Number.isInteger(pid) && pid > 0 && fs.existsSync(`/proc/${pid}`)) live.push(pid);
    else fs.rmSync(path.join(SWAP_USERS_DIR, n), { force: true });
  }
  return live;
}

function createAndEnableSwap(sizeMb: number): void {
  for (const cmd of ['mkswap', 'swapon', 'swapoff']) {
    if (!findInPath(cmd)) throw new Error(`cannot set up swap: \`${cmd}\` not found (Debian package util-linux)`);
  }
  fs.rmSync(SWAP_FILE, { force: true });
  const attempt = (fill: 'fallocate' | 'dd'): void => {
    if (fill === 'fallocate') run('fallocate', ['-l', `${sizeMb}M`, SWAP_FILE], 'creating swap file');
    else run('dd', ['if=/dev/zero', `of=${SWAP_FILE}`, 'bs=1M', `count=${sizeMb}`, 'status=none'], 'creating swap file');
    fs.chmodSync(SWAP_FILE, 0o600);
    run('mkswap', ['-q', SWAP_FILE], 'mkswap');
    run('swapon', [SWAP_FILE], 'swapon');
  };
  try {
    // fallocate is instant on ext4; some filesystems refuse swap files with unwritten extents: fall back to dd.
    attempt('fallocate');
  } catch (first) {
    fs.rmSync(SWAP_FILE, { force: true });
    try {
      attempt('dd');
    } catch (second) {
      fs.rmSync(SWAP_FILE, { force: true });
      throw new Error(
        `no swap possible: could not enable a ${sizeMb} MB swap file at ${SWAP_FILE} ` +
          `(fallocate attempt: ${errText(first)}; dd attempt: ${errText(second)}). ` +
          'Swap-backed major faults need swap: root with CAP_SYS_ADMIN and a filesystem that supports swap files',
      );
    }
  }
}

let swapLeases = 0;

/** Make sure SWAP_FILE is on and count this lease; pair every call with releaseSwap(). */
export function acquireSwap(sizeMb = SWAP_SIZE_MB): void {
  requireRoot('enabling swap (swapon)');
  withSwapLock(() => {
    liveSwapUsers(); // prunes dead users
    if (!swapIsActive()) createAndEnableSwap(sizeMb);
    fs.mkdirSync(SWAP_USERS_DIR, { recursive: true });
    fs.writeFileSync(path.join(SWAP_USERS_DIR, String(process.pid)), '');
  });
  swapLeases++;
}

/** Drop one lease; the last user of SWAP_FILE (over all processes) swaps it off and deletes it. */
export function releaseSwap(): void {
  if (swapLeases <= 0) return;
  swapLeases--;
  if (swapLeases > 0) return;
  withSwapLock(() => {
    fs.rmSync(path.join(SWAP_USERS_DIR, String(process.pid)), { force: true });
    if (liveSwapUsers().length > 0) return;
    if (swapIsActive()) run('swapoff', [SWAP_FILE], 'swapoff');
    fs.rmSync(SWAP_FILE, { force: true });
    fs.rmSync(SWAP_USERS_DIR, { recursive: true, force: true });
  });
}

/** Swap off and delete SWAP_FILE when no live process holds a lease (left on by a killed test run). */
function sweepStaleSwap(): boolean {
  if (swapLeases > 0 || (!swapIsActive() && !fs.existsSync(SWAP_FILE))) return false;
  return withSwapLock(() => {
    if (liveSwapUsers().length > 0) return false;
    if (swapIsActive()) run('swapoff', [SWAP_FILE], 'swapoff');
    fs.rmSync(SWAP_FILE, { force: true });
    fs.rmSync(SWAP_USERS_DIR, { recursive: true, force: true });
    return true;
  });
}

// ---------------------------------------------------------------------------
// Cgroups

interface Mount {
  type: string;
  dir: string;
  options: string[];
}

function mounts(): Mount[] {
  return fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [, dir = '', type = '', opts = ''] = l.split(' ');
      return { type, dir: dir.replace(/\\040/g, ' '), options: opts.split(',') };
    });
}

function v1Mount(option: string): string | undefined {
  return mounts().find((m) => m.type === 'cgroup' && m.options.includes(option))?.dir;
}

function v2Mounts(): string[] {
  return mounts()
    .filter((m) => m.type === 'cgroup2')
    .map((m) => m.dir);
}

function v2HasMemory(dir: string): boolean {
  try {
    return fs.readFileSync(path.join(dir, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('memory');
  } catch {
    return false;
  }
}

export type MemoryCgroupSupport = { version: 1; root: string } | { version: 2; root: string };

/** Where a memory cgroup can be made: cgroup v1 'memory' hierarchy first, else cgroup2 with the memory controller. */
export function memoryCgroupSupport(): MemoryCgroupSupport {
  const v1 = v1Mount('memory');
  if (v1 && fs.existsSync(path.join(v1, 'memory.limit_in_bytes'))) return { version: 1, root: v1 };
  const v2 = v2Mounts();
  const withMem = v2.find(v2HasMemory);
  if (withMem) return { version: 2, root: withMem };
  throw new Error(
    'no memory cgroup: no cgroup v1 hierarchy with the "memory" controller is mounted, and no cgroup2 mount ' +
      `(${v2.length ? v2.join(', ') : 'none found'}) lists "memory" in cgroup.controllers`,
  );
}

export interface Cgroup {
  version: 1 | 2;
  /** Path as /proc/PID/cgroup shows it, e.g. "/pft-test-123-ab12cd34" or "/system.slice/pft-demo.service". */
  path: string;
  /** The memory cgroup directory (holds the limit). */
  memoryDir: string;
  /** Every directory a process is put into (memory + mirrors), i.e. where cgroup.procs is written. */
  dirs: string[];
  limitBytes?: number;
  remove(): Promise<void>;
}

export interface CgroupOptions {
  /** Relative cgroup path; default pft-test-<pid>-<rand>. E.g. "system.slice/pft-demo.service" or "kubepods/pod<uid>/<64 hex>". */
  name?: string;
  /** memory.limit_in_bytes (v1) / memory.max (v2). */
  limitMb?: number;
  /**
   * Also create the same path in the v1 name=systemd hierarchy and the cgroup2 mount (when the memory
   * controller lives on v1), so /proc/PID/cgroup shows the name on every line a real systemd/kubelet
   * host would. Default: true when `name` is given.
   */
  mirror?: boolean;
}

const liveCgroups = new Set<Cgroup>();

function validateCgroupName(name: string): string {
  const clean = name.replace(/^\/+|\/+$/g, '');
  if (!clean || clean.split('/').some((s) => !/^[A-Za-z0-9_.@:+\\-]+$/.test(s) || s === '.' || s === '..')) {
    throw new Error(`bad cgroup name ${JSON.stringify(name)}`);
  }
  if (clean.includes(':')) throw new Error(`cgroup name must not contain ':' (${name})`);
  return clean;
}

function procsOf(dir: string): number[] {
  try {
    return fs
      .readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** mkdir -p under root; returns the dirs actually created (outermost first). */
function mkdirTracked(root: string, rel: string): string[] {
  const created: string[] = [];
  let cur = root;
  for (const seg of rel.split('/')) {
    cur = path.join(cur, seg);
    try {
      fs.mkdirSync(cur);
      created.push(cur);
    } catch (e) {
      if (errCode(e) !== 'EEXIST') throw new Error(`mkdir ${cur}: ${errText(e)}`);
    }
  }
  return created;
}

async function rmdirRetry(dir: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (e) {
      const code = errCode(e);
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || Date.now() > deadline) {
        throw new Error(`rmdir ${dir}: ${errText(e)} (procs: ${procsOf(dir).join(',') || 'none'})`);
      }
      await sleep(50);
    }
  }
}

function rmdirRetrySync(dir: string): void {
  for (let i = 0; i < 40; i++) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (e) {
      if (errCode(e) !== 'EBUSY') return;
      sleepSync(50);
    }
  }
}

function cgroupRecordOwner(file: string): number | undefined {
  const m = /^cgroup-(\d+)-[0-9a-f]+\.json$/.exec(file);
  return m ? Number(m[1]) : undefined;
}

/** rmdir (innermost first) the cgroups recorded by test processes that are dead; returns the dirs removed. */
function sweepStaleCgroups(): string[] {
  const removed: string[] = [];
  let files: string[] = [];
  try {
    files = fs.readdirSync(STATE_DIR);
  } catch {
    return removed;
  }
  for (const f of files) {
    const owner = cgroupRecordOwner(f);
    if (owner === undefined || owner === process.pid || fs.existsSync(`/proc/${owner}`)) continue;
    let dirs: string[] = [];
    try {
      dirs = JSON.parse(fs.readFileSync(path.join(STATE_DIR, f), 'utf8')) as string[];
    } catch {
      /* unreadable record: drop it */
    }
    let all = true;
    for (const d of [...dirs].reverse()) {
      if (!fs.existsSync(d)) continue;
      if (procsOf(d).length === 0) {
        try {
          fs.rmdirSync(d);
          removed.push(d);
          continue;
        } catch {
          /* fall through */
        }
      }
      all = false;
    }
    if (all) fs.rmSync(path.join(STATE_DIR, f), { force: true });
  }
  return removed;
}

/** Create a memory cgroup (v1, else v2) with an optional limit. remove() deletes what was created. */
export function createCgroup(opts: CgroupOptions = {}): Cgroup {
  requireRoot('creating a memory cgroup');
  const support = memoryCgroupSupport();
  const rel = validateCgroupName(opts.name ?? `${TEST_PREFIX}${process.pid}-${randHex()}`);
  const mirror = opts.mirror ?? opts.name !== undefined;
  const roots: string[] = [support.root];
  if (mirror && support.version === 1) {
    const sd = v1Mount('name=systemd');
    if (sd) roots.push(sd);
    for (const v2 of v2Mounts()) if (!roots.includes(v2)) roots.push(v2);
  }
  sweepStaleCgroups();

  const created: string[] = [];
  fs.mkdirSync(STATE_DIR, { recursive: true });
  const record = path.join(STATE_DIR, `cgroup-${process.pid}-${randHex()}.json`);
  const undo = (): void => {
    for (const d of [...created].reverse()) rmdirRetrySync(d);
    if (created.every((d) => !fs.existsSync(d))) fs.rmSync(record, { force: true });
  };
  const dirs: string[] = [];
  try {
    for (const root of roots) {
      const leaf = path.join(root, rel);
      if (fs.existsSync(leaf) && procsOf(leaf).length > 0) {
        throw new Error(`cgroup ${leaf} already exists and has processes (${procsOf(leaf).join(',')}): refusing to use it`);
      }
      const made = mkdirTracked(root, rel);
      created.push(...made);
      fs.writeFileSync(record, JSON.stringify(created));
      if (support.version === 2 && root === support.root) {
        // Enable the memory controller down to the leaf (only in dirs we created, plus the mount root).
        const segs = rel.split('/');
        let cur = root;
        for (let i = 0; i < segs.length; i++) {
          const ctl = path.join(cur, 'cgroup.subtree_control');
          if (!fs.readFileSync(ctl, 'utf8').split(/\s+/).includes('memory')) {
            try {
              fs.writeFileSync(ctl, '+memory');
            } catch (e) {
              throw new Error(`no memory cgroup: cannot enable the memory controller in ${ctl}: ${errText(e)}`);
            }
          }
          cur = path.join(cur, segs[i]!);
        }
      }
      dirs.push(leaf);
    }
    const memoryDir = path.join(support.root, rel);
    let limitBytes: number | undefined;
    if (opts.limitMb !== undefined) {
      limitBytes = Math.round(opts.limitMb * 1024 * 1024);
      if (support.version === 1) {
        fs.writeFileSync(path.join(memoryDir, 'memory.limit_in_bytes'), String(limitBytes));
      } else {
        fs.writeFileSync(path.join(memoryDir, 'memory.max'), String(limitBytes));
        const swapMax = path.join(memoryDir, 'memory.swap.max');
        if (fs.existsSync(swapMax)) fs.writeFileSync(swapMax, 'max');
      }
    }
    let removing: Promise<void> | undefined;
    const cg: Cgroup = {
      version: support.version,
      path: `/${rel}`,
      memoryDir,
      dirs,
      ...(limitBytes !== undefined ? { limitBytes } : {}),
      remove() {
        removing ??= (async () => {
          liveCgroups.delete(cg);
          const errors: string[] = [];
          for (const d of [...created].reverse()) {
            try {
              await rmdirRetry(d);
            } catch (e) {
              errors.push(errText(e));
            }
          }
          if (errors.length) throw new Error(`removing cgroup ${rel}: ${errors.join('; ')}`);
          fs.rmSync(record, { force: true });
        })();
        return removing;
      },
    };
    (cg as Cgroup & { removeSync: () => void }).removeSync = undo;
    liveCgroups.add(cg);
    return cg;
  } catch (e) {
    undo();
    throw e;
  }
}

/** /proc/PID/cgroup lines as {hierarchy id, controllers, path}. */
export function cgroupsOf(pid: number): { id: string; controllers: string; path: string }[] {
  return fs
    .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const a = l.indexOf(':');
      const b = l.indexOf(':', a + 1);
      return { id: l.slice(0, a), controllers: l.slice(a + 1, b), path: l.slice(b + 1) };
    });
}

// ---------------------------------------------------------------------------
// Generators

export interface Generator {
  kind: GeneratorKind;
  pid: number;
  /** Process name as in /proc/PID/comm. */
  comm: string;
  binary: string;
  args: string[];
  /** The file the generator maps (data file, or the /dev/shm file), if any. */
  path?: string;
  cgroup?: Cgroup;
  /** What the generator wrote to stderr so far. */
  stderr(): string;
  /** Kill it (SIGTERM, then SIGKILL), wait until the pid is gone, remove its files, cgroup and swap lease. Idempotent. */
  stop(): Promise<void>;
}

export interface FileGenerator extends Generator {
  path: string;
  /** The pft-test-* temp dir holding the data file. */
  dir: string;
}

export interface ShmGenerator extends Generator {
  path: string;
  cgroup: Cgroup;
}

export interface SwapGenerator extends Generator {
  cgroup: Cgroup;
}

interface Internal {
  gen: Generator;
  child: ChildProcess;
  killSync(): void;
}

const registry = new Set<Internal>();

export interface LaunchOptions {
  readyTimeoutMs?: number;
}

async function launch(
  kind: GeneratorKind,
  args: string[],
  cgroup: Cgroup | undefined,
  readyTimeoutMs: number,
): Promise<{ child: ChildProcess; pid: number; binary: string; stderr: () => string }> {
  const binary = buildGenerators()[kind];
  let child: ChildProcess;
  if (cgroup) {
    // Join the cgroup(s) first, then exec: the generator never runs outside them.
    const procs = cgroup.dirs.map((d) => path.join(d, 'cgroup.procs')).join(':');
    child = spawn(
      '/bin/sh',
      [
        '-c',
        'IFS=:; for f in $PFT_CGROUP_PROCS; do echo $$ > "$f" || { echo "cannot join cgroup $f" >&2; exit 97; }; done; ' +
          'unset IFS PFT_CGROUP_PROCS; exec "$0" "$@"',
        binary,
        ...args,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PFT_CGROUP_PROCS: procs } },
    );
  } else {
    child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  }
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    err += d;
    if (err.length > 65536) err = err.slice(-65536);
  });
  const pid = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`${GENERATOR_COMMS[kind]} ${args.join(' ')} not ready after ${readyTimeoutMs} ms; stderr: ${err.trim()}`));
    }, readyTimeoutMs);
    const onData = (d: string): void => {
      out += d;
      const m = /^ready (\d+)$/m.exec(out);
      if (m) {
        cleanup();
        resolve(Number(m[1]));
      }
    };
    const onExit = (code: number | null, sig: NodeJS.Signals | null): void => {
      cleanup();
      reject(
        new Error(
          `${GENERATOR_COMMS[kind]} ${args.join(' ')} exited before ready (code ${code}, signal ${sig}); stderr: ${err.trim()}`,
        ),
      );
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(new Error(`starting ${binary}: ${e.message}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    child.stdout!.on('data', onData);
    child.on('exit', onExit);
    child.on('error', onError);
  });
  child.stdout!.resume();
  if (pid !== child.pid) {
    child.kill('SIGKILL');
    throw new Error(`${binary} reported pid ${pid} but the child is ${child.pid}`);
  }
  return { child, pid, binary, stderr: () => err };
}

async function killAndReap(child: ChildProcess, pid: number, termTimeoutMs = 10_000): Promise<void> {
  const exited =
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const t = await Promise.race([exited.then(() => 'exited'), sleep(termTimeoutMs).then(() => 'timeout')]);
    if (t === 'timeout') {
      child.kill('SIGKILL');
      await Promise.race([exited, sleep(10_000)]);
    }
  }
  await waitGone(pid, 10_000);
}

function register(
  kind: GeneratorKind,
  launched: { child: ChildProcess; pid: number; binary: string; stderr: () => string },
  args: string[],
  extras: { path?: string; cgroup?: Cgroup; dir?: string; ownDir?: boolean; swap?: boolean; unlinkPath?: boolean },
): Generator {
  const { child, pid } = launched;
  let stopping: Promise<void> | undefined;
  let swapHeld = extras.swap === true;
  const internal: Internal = {
    gen: undefined as unknown as Generator,
    child,
    killSync() {
      // Best effort from process.on('exit'): no event loop, so no reaping; SIGKILL and move on.
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      const deadline = Date.now() + 2000;
      while (isAlive(pid) && Date.now() < deadline) sleepSync(20);
      if (extras.unlinkPath && extras.path) fs.rmSync(extras.path, { force: true });
      if (extras.ownDir && extras.dir) fs.rmSync(extras.dir, { recursive: true, force: true });
      if (extras.cgroup) {
        liveCgroups.delete(extras.cgroup);
        (extras.cgroup as Cgroup & { removeSync?: () => void }).removeSync?.();
      }
      if (swapHeld) {
        swapHeld = false;
        try {
          releaseSwap();
        } catch {
          /* best effort */
        }
      }
    },
  };
  const gen: Generator = {
    kind,
    pid,
    comm: GENERATOR_COMMS[kind],
    binary: launched.binary,
    args,
    ...(extras.path !== undefined ? { path: extras.path } : {}),
    ...(extras.cgroup !== undefined ? { cgroup: extras.cgroup } : {}),
    ...(extras.dir !== undefined ? { dir: extras.dir } : {}),
    stderr: launched.stderr,
    stop() {
      stopping ??= (async () => {
        const errors: string[] = [];
        try {
          await killAndReap(child, pid);
        } catch (e) {
          errors.push(errText(e));
        }
        if (extras.unlinkPath && extras.path) fs.rmSync(extras.path, { force: true });
        if (extras.ownDir && extras.dir) fs.rmSync(extras.dir, { recursive: true, force: true });
        if (extras.cgroup) {
          try {
            await extras.cgroup.remove();
          } catch (e) {
            errors.push(errText(e));
          }
        }
        if (swapHeld) {
          swapHeld = false;
          try {
            releaseSwap();
          } catch (e) {
            errors.push(errText(e));
          }
        }
        registry.delete(internal);
        if (errors.length) throw new Error(`stopping ${gen.comm} (pid ${pid}): ${errors.join('; ')}`);
      })();
      return stopping;
    },
  };
  internal.gen = gen;
  registry.add(internal);
  return gen;
}

/** Run setup steps; if a later one throws, undo the earlier ones (in reverse) and rethrow. */
async function withRollback<T>(steps: (undo: (fn: () => unknown) => void) => Promise<T>): Promise<T> {
  const undos: (() => unknown)[] = [];
  try {
    return await steps((fn) => undos.push(fn));
  } catch (e) {
    for (const fn of undos.reverse()) {
      try {
        await fn();
      } catch {
        /* keep the original error */
      }
    }
    throw e;
  }
}

export interface FileGeneratorOptions extends LaunchOptions {
  /** Size of the data file (default 128). */
  sizeMb?: number;
  /** Pace reads to this many pages per second (default: unlimited). */
  pagesPerSec?: number;
  /** Directory (on a real disk) for the data file; default a new pft-test-<pid>-* dir under diskTempBase(). */
  dir?: string;
  /** Run inside this cgroup path (see CgroupOptions.name). */
  cgroupName?: string;
  /** Run inside a memory cgroup with this limit (page cache is charged to it). */
  limitMb?: number;
  /**
   * file-reader only: fault the pages in with madvise(MADV_POPULATE_READ), so the kernel takes the major faults
   * on the process's behalf: they count in its majflt but fire no perf event.
   */
  populate?: boolean;
}

async function startFileGenerator(
  kind: 'fileReader' | 'codeReread',
  opts: FileGeneratorOptions,
  extraArgs: string[],
): Promise<FileGenerator> {
  buildGenerators();
  return withRollback(async (undo) => {
    const data = await makeDataFile(opts.sizeMb ?? 128, opts.dir);
    undo(() => (data.ownDir ? fs.rmSync(data.dir, { recursive: true, force: true }) : fs.rmSync(data.file, { force: true })));
    let cgroup: Cgroup | undefined;
    if (opts.cgroupName !== undefined || opts.limitMb !== undefined) {
      cgroup = createCgroup({
        ...(opts.cgroupName !== undefined ? { name: opts.cgroupName } : {}),
        ...(opts.limitMb !== undefined ? { limitMb: opts.limitMb } : {}),
      });
      const cg = cgroup;
      undo(() => cg.remove());
    }
    const args = [data.file, String(opts.pagesPerSec ?? 0), ...extraArgs, ...(kind === 'fileReader' && opts.populate ? ['populate'] : [])];
    const launched = await launch(kind, args, cgroup, opts.readyTimeoutMs ?? 30_000);
    const gen = register(kind, launched, args, {
      path: data.file,
      dir: data.dir,
      ownDir: data.ownDir,
      unlinkPath: !data.ownDir,
      ...(cgroup ? { cgroup } : {}),
    });
    return gen as FileGenerator;
  });
}

/** File-backed major faults: MAP_SHARED PROT_READ mapping of a data file, page cache evicted every pass. */
export function startFileReader(opts: FileGeneratorOptions = {}): Promise<FileGenerator> {
  return startFileGenerator('fileReader', opts, []);
}

/**
 * Major faults in an executable file mapping (r-xp, MAP_PRIVATE, PROT_READ|PROT_EXEC), page cache evicted
 * every pass. chunkKb: size of each VMA the file is mapped as (default 1024); readahead for exec mappings is
 * bounded by the VMA, so smaller chunks give more major faults per MB read.
 */
export function startCodeReread(opts: FileGeneratorOptions & { chunkKb?: number } = {}): Promise<FileGenerator> {
  return startFileGenerator('codeReread', opts, [String(opts.chunkKb ?? 1024)]);
}

export interface SwapGeneratorOptions extends LaunchOptions {
  /** Memory the generator touches (default 256). */
  mb?: number;
  /** Memory cgroup limit, below mb (default 64). */
  limitMb?: number;
  pagesPerSec?: number;
  /**
   * anon-thrash only: `scattered` (default) defeats swap readahead, one swap-in page per major fault;
   * `sequential` lets readahead read up to 2^vm.page-cluster pages per major fault (pswpin ≫ majflt).
   */
  order?: 'scattered' | 'sequential';
  /** Cgroup path to run in (e.g. "system.slice/pft-demo.service"); default pft-test-<pid>-<rand>. */
  cgroupName?: string;
}

async function startSwapGenerator(
  kind: 'anonThrash' | 'shmThrash',
  opts: SwapGeneratorOptions,
  shmPath?: string,
): Promise<SwapGenerator> {
  const mb = opts.mb ?? 256;
  const limitMb = opts.limitMb ?? 64;
  if (!(limitMb > 0 && limitMb < mb)) {
    throw new Error(`limitMb (${limitMb}) must be > 0 and below mb (${mb}), or nothing gets swapped out`);
  }
  requireRoot('swap-backed fault generators (swapon, memory cgroup)');
  buildGenerators();
  memoryCgroupSupport(); // fail with "no memory cgroup" before touching swap
  return withRollback(async (undo) => {
    acquireSwap();
    undo(() => releaseSwap());
    const cgroup = createCgroup({ limitMb, ...(opts.cgroupName !== undefined ? { name: opts.cgroupName } : {}) });
    undo(() => cgroup.remove());
    const args = shmPath
      ? [shmPath, String(mb), String(opts.pagesPerSec ?? 0)]
      : [String(mb), String(opts.pagesPerSec ?? 0), ...(opts.order === 'sequential' ? ['seq'] : [])];
    if (shmPath) undo(() => fs.rmSync(shmPath, { force: true }));
    // Touching mb under a limit of limitMb swaps out (mb - limitMb) before "ready": allow time for it.
    const launched = await launch(kind, args, cgroup, opts.readyTimeoutMs ?? 60_000 + mb * 100);
    return register(kind, launched, args, {
      cgroup,
      swap: true,
      ...(shmPath ? { path: shmPath, unlinkPath: true } : {}),
    }) as SwapGenerator;
  });
}

/** Swap-backed major faults on private anonymous memory, inside a memory-limited cgroup, with swap on. */
export function startAnonThrash(opts: SwapGeneratorOptions = {}): Promise<SwapGenerator> {
  return startSwapGenerator('anonThrash', opts);
}

/**
 * Swap-backed major faults on shared memory: a /dev/shm file (tmpfs) mapped MAP_SHARED, inside a
 * memory-limited cgroup, with swap on. path defaults to /dev/shm/pft-test-<pid>-<rand>.
 */
export function startShmThrash(opts: SwapGeneratorOptions & { path?: string } = {}): Promise<ShmGenerator> {
  let shmPath = opts.path;
  if (shmPath === undefined) {
    if (!fs.existsSync('/dev/shm') || !isMemoryFs('/dev/shm')) {
      return Promise.reject(new Error('/dev/shm is missing or not tmpfs: shm-thrash needs a tmpfs at /dev/shm'));
    }
    sweepStaleFiles();
    shmPath = `/dev/shm/${TEST_PREFIX}${process.pid}-${randHex()}`;
  }
  return startSwapGenerator('shmThrash', opts, shmPath) as Promise<ShmGenerator>;
}

/** Generators started by this process and not yet stopped. */
export function runningGenerators(): Generator[] {
  return [...registry].map((i) => i.gen);
}

/** Stop every generator this process started (for afterAll/afterEach). Throws if any stop failed. */
export async function stopAllGenerators(): Promise<void> {
  const results = await Promise.allSettled([...registry].map((i) => i.gen.stop()));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  for (const cg of [...liveCgroups]) {
    try {
      await cg.remove();
    } catch (e) {
      failed.push({ status: 'rejected', reason: e });
    }
  }
  if (failed.length) throw new Error(`stopAllGenerators: ${failed.map((f) => errText(f.reason)).join('; ')}`);
}

/**
 * Remove what test processes that are now dead left behind: their cgroups, pft-test-<pid>-* temp dirs and
 * /dev/shm files, and the swap file when nobody holds it. Never touches state of live processes, so it is
 * safe in a beforeAll even while other test processes run.
 */
export function cleanupStaleTestState(): { cgroups: string[]; files: string[]; swapOff: boolean } {
  return { cgroups: sweepStaleCgroups(), files: sweepStaleFiles(), swapOff: sweepStaleSwap() };
}

// ---------------------------------------------------------------------------
// Stray detection

export interface GeneratorProcess {
  pid: number;
  ppid: number;
  comm: string;
  state: string;
}

/** Every process on the machine whose comm is one of ours (any parent). */
export function findGeneratorProcesses(): GeneratorProcess[] {
  const comms = new Set<string>(Object.values(GENERATOR_COMMS));
  const found: GeneratorProcess[] = [];
  for (const ent of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue;
    try {
      const st = readProcStat(Number(ent));
      if (comms.has(st.comm) && st.state !== 'Z' && st.state !== 'X') {
        found.push({ pid: st.pid, ppid: st.ppid, comm: st.comm, state: st.state });
      }
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

/**
 * Throw if any generator process is alive (from an earlier test, another test file, or a crashed run).
 * except: pids that are expected (e.g. generators the current test just started).
 */
export function assertNoStrayGenerators(opts: { except?: number[] } = {}): void {
  const except = new Set(opts.except ?? []);
  const strays = findGeneratorProcesses().filter((p) => !except.has(p.pid));
  if (strays.length) {
    const mine = new Set(runningGenerators().map((g) => g.pid));
    throw new Error(
      `stray fault generators alive: ${strays
        .map((p) => `${p.comm} pid ${p.pid} ppid ${p.ppid}${mine.has(p.pid) ? ' (started by this process, not stopped)' : ''}`)
        .join(', ')}`,
    );
  }
}

/** What this module may have left on the machine: for asserting a clean state after stop(). */
export function leftovers(): { processes: GeneratorProcess[]; cgroups: string[]; swapActive: boolean; shmFiles: string[] } {
  const cgroups: string[] = [];
  const roots = [v1Mount('memory'), v1Mount('name=systemd'), ...v2Mounts()].filter((r): r is string => !!r);
  for (const root of roots) {
    try {
      for (const n of fs.readdirSync(root)) if (n.startsWith(TEST_PREFIX)) cgroups.push(path.join(root, n));
    } catch {
      /* unreadable */
    }
  }
  let shmFiles: string[] = [];
  try {
    shmFiles = fs
      .readdirSync('/dev/shm')
      .filter((n) => n.startsWith(TEST_PREFIX))
      .map((n) => `/dev/shm/${n}`);
  } catch {
    /* no /dev/shm */
  }
  return { processes: findGeneratorProcesses(), cgroups, swapActive: swapIsActive(), shmFiles };
}

// ---------------------------------------------------------------------------
// Last-resort cleanup when the test process exits without stopAllGenerators().

process.on('exit', () => {
  for (const i of [...registry]) {
    try {
      i.killSync();
    } catch {
      /* best effort */
    }
    registry.delete(i);
  }
  for (const cg of [...liveCgroups]) {
    try {
      (cg as Cgroup & { removeSync?: () => void }).removeSync?.();
    } catch {
      /* best effort */
    }
  }
  while (swapLeases > 0) {
    try {
      releaseSwap();
    } catch {
      break;
    }
  }
});
