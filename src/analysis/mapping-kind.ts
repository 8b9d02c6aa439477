import type { MapEntry } from '../model/facts.js';
import type { Cause, MappingKind } from '../model/verdict.js';

/**
 * What kind of memory a /proc/PID/maps line is, and so what a major fault in it means: a swap-in
 * (anonymous, heap, stack, shared memory), a file read (file-data) or program text read again (file-code).
 */

export interface MappingClass {
  kind: MappingKind;
  cause: Cause;
  /** A named file that was unlinked but is still mapped. Never set for memfd, SysV or /dev/zero, which are always "deleted". */
  deleted: boolean;
  /** A file or shared-memory object name, without ` (deleted)`; null for anonymous and special memory. */
  path: string | null;
  /** Human label: the path, `[heap]`, `[anon:name]`, or `anonymous 7f3a00000000–7f3c00000000`. */
  label: string;
}

const DELETED = ' (deleted)';

const SPECIAL = new Set(['[vdso]', '[vvar]', '[vvar_vclock]', '[vsyscall]', '[uprobes]', '[vectors]', '[sigpage]']);

// shmem_file_setup() objects on the kernel's internal shm mount: SysV segments and DRM GEM buffers.
const SYSV = /^\/SYSV[0-9a-fA-F]{8}$/;
const KERNEL_SHMEM = new Set(['/drm mm object', '/i915']);

export function causeOf(kind: MappingKind): Cause {
  switch (kind) {
    case 'anonymous':
    case 'heap':
    case 'stack':
    case 'shmem':
      return 'swap';
    case 'file-data':
      return 'file';
    case 'file-code':
      return 'code';
    case 'special':
    case 'unresolved':
      return 'other';
  }
}

/** Lower-case hex without 0x, as /proc/PID/maps prints addresses. */
export function hex(addr: number): string {
  return addr.toString(16);
}

export function rangeLabel(prefix: string, start: number, end: number): string {
  return `${prefix} ${hex(start)}–${hex(end)}`;
}

/**
 * Classifies one mapping. `tmpfsMounts` are the node's tmpfs/shmem mount points: a file under one of them
 * lives in RAM and swap, so its faults are swap-ins. Paths in maps are seen from the process's own mount
 * namespace; a device number with a non-zero major (a real block device) overrides the mount list, so a
 * container's disk-backed /tmp is not mistaken for the host's tmpfs /tmp.
 */
export function classifyMapping(
  entry: Pick<MapEntry, 'start' | 'end' | 'perms' | 'path'> & Partial<Pick<MapEntry, 'dev'>>,
  tmpfsMounts: readonly string[],
): MappingClass {
  const raw = entry.path;
  const anon = (prefix: string, kind: MappingKind): MappingClass =>
    make(kind, null, rangeLabel(prefix, entry.start, entry.end), false);

  if (raw === '') return anon('anonymous', 'anonymous');
  if (raw.startsWith('[')) {
    if (raw === '[heap]') return make('heap', null, raw, false);
    if (raw === '[stack]' || /^\[stack:\d+\]$/.test(raw)) return make('stack', null, raw, false);
    if (raw.startsWith('[anon_shmem:')) return make('shmem', null, raw, false);
    if (raw.startsWith('[anon:')) return make('anonymous', null, raw, false);
    return make('special', null, raw, false);
  }

  const deleted = raw.endsWith(DELETED);
  const name = deleted ? raw.slice(0, -DELETED.length) : raw;

  // memfd shows as `memfd:name (deleted)`, on older kernels `/memfd:name (deleted)`.
  if (name.startsWith('memfd:') || name.startsWith('/memfd:')) {
    const path = name.startsWith('/') ? name.slice(1) : name;
    return make('shmem', path, path, false);
  }
  if (SYSV.test(name) || (deleted && KERNEL_SHMEM.has(name))) return make('shmem', name, name, false);
  if (name === '/dev/zero') {
    // MAP_SHARED of /dev/zero becomes shmem (`/dev/zero (deleted)`); MAP_PRIVATE is plain anonymous memory.
    return deleted ? anon('shared anonymous', 'shmem') : anon('anonymous', 'anonymous');
  }
  if (!name.startsWith('/')) return make('special', null, raw, false); // anon_inode:[perf_event], dmabuf…

  const label = deleted ? `${name}${DELETED}` : name;
  if (name.startsWith('/dev/shm/') || (onAnonymousDevice(entry.dev) && underAny(name, tmpfsMounts))) {
    return make('shmem', name, label, deleted);
  }
  // Device memory (GPU, /dev/mem…): not page cache, a fault there is no disk read.
  if (name.startsWith('/dev/')) return make('special', null, raw, false);
  const executable = entry.perms.charAt(2) === 'x';
  return make(executable ? 'file-code' : 'file-data', name, label, deleted);
}

function make(kind: MappingKind, path: string | null, label: string, deleted: boolean): MappingClass {
  return { kind, cause: causeOf(kind), deleted, path, label };
}

/** tmpfs files carry an anonymous device (major 0, `00:1b`); unknown or unparsable counts as possible. */
function onAnonymousDevice(dev: string | undefined): boolean {
  if (dev === undefined) return true;
  const major = /^([0-9a-fA-F]+):[0-9a-fA-F]+$/.exec(dev)?.[1];
  return major === undefined || Number.parseInt(major, 16) === 0;
}

function underAny(path: string, mounts: readonly string[]): boolean {
  for (const m of mounts) {
    const mount = m.length > 1 && m.endsWith('/') ? m.slice(0, -1) : m;
    if (mount === '/' || path === mount || path.startsWith(`${mount}/`)) return true;
  }
  return false;
}
