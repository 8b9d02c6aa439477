import type { ProcDetail } from '../model/facts.js';
import type { Who } from '../model/verdict.js';

/**
 * Who a process is, for people reading the verdict: its systemd unit, container and Kubernetes pod from
 * /proc/PID/cgroup, and a cmdline short enough for a table cell.
 */

export interface CgroupIdentity {
  cgroup: string | null;
  unit: string | null;
  container: string | null;
  podUid: string | null;
}

export const CMDLINE_MAX_CHARS = 200;

interface CgroupLine {
  hierarchy: string;
  controllers: string[];
  path: string;
}

function parseLine(line: string): CgroupLine | null {
  // `id:controllers:path`; the path itself may contain ':' (containerd's `…slice:cri-containerd:<id>`).
  const a = line.indexOf(':');
  const b = a < 0 ? -1 : line.indexOf(':', a + 1);
  if (b < 0) return null;
  const path = line.slice(b + 1).trim();
  if (!path.startsWith('/')) return null;
  const controllers = line.slice(a + 1, b);
  return { hierarchy: line.slice(0, a), controllers: controllers === '' ? [] : controllers.split(','), path };
}

/** v2 unified line first, then the systemd (name=systemd) and memory v1 hierarchies, then the rest. */
function preference(l: CgroupLine): number {
  if (l.hierarchy === '0' && l.controllers.length === 0) return 0;
  if (l.controllers.includes('name=systemd')) return 1;
  if (l.controllers.includes('memory')) return 2;
  return 3;
}

const UNIT = /\.(?:service|scope)$/;
// A 64-hex container id bounded by non-hex characters: `/docker/<id>`, `docker-<id>.scope`,
// `cri-containerd-<id>.scope`, `crio-<id>.scope`, `libpod-<id>.scope`, `…slice:cri-containerd:<id>`.
const CONTAINER = /(?:^|[^0-9a-f])([0-9a-f]{64})(?![0-9a-f])/g;
// cgroupfs driver: `/kubepods/burstable/pod<uid>`; systemd driver: `kubepods-burstable-pod<uid_with_underscores>.slice`.
// Static pods have a 32-hex config hash instead of a uuid.
const POD = /(?:^|[/-])pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})(?:\.slice)?(?=$|[/:])/;

export function unitOf(path: string): string | null {
  const parts = path.split('/');
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i]!;
    if (UNIT.test(part)) return part;
  }
  return null;
}

export function containerOf(path: string): string | null {
  let id: string | null = null;
  for (const m of path.matchAll(CONTAINER)) {
    // conmon is CRI-O's monitor process, not the container.
    if (!path.slice(0, m.index + m[0].length - 64).endsWith('conmon-')) id = m[1]!;
  }
  return id;
}

export function podUidOf(path: string): string | null {
  if (!path.includes('kubepods')) return null;
  const uid = POD.exec(path)?.[1];
  return uid === undefined ? null : uid.replaceAll('_', '-');
}

/** Parses raw /proc/PID/cgroup lines (v1 `12:memory:/path`, v2 `0::/path`, or both on hybrid hosts). */
export function parseCgroup(lines: readonly string[]): CgroupIdentity {
  const parsed = lines
    .map(parseLine)
    .filter((l): l is CgroupLine => l !== null)
    .sort((x, y) => preference(x) - preference(y));
  // `/` says nothing (root, or a cgroup namespace); on hybrid hosts the v2 line is often `/` or a
  // session scope while the v1 lines hold the container's path, so each field takes the first that has one.
  const informative = parsed.filter((l) => l.path !== '/');
  const first = <T>(f: (path: string) => T | null): T | null => {
    for (const l of informative) {
      const v = f(l.path);
      if (v !== null) return v;
    }
    return null;
  };
  return {
    cgroup: informative[0]?.path ?? parsed[0]?.path ?? null,
    unit: first(unitOf),
    container: first(containerOf),
    podUid: first(podUidOf),
  };
}

/** Cuts a cmdline to `max` characters, the last being an ellipsis; never splits a surrogate pair. */
export function truncateCmdline(cmdline: string, max = CMDLINE_MAX_CHARS): string {
  if (cmdline.length <= max) return cmdline;
  let cut = Math.max(0, max - 1);
  const code = cmdline.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--;
  return `${cmdline.slice(0, cut)}…`;
}

export function whoOf(detail: ProcDetail, cmdlineMax = CMDLINE_MAX_CHARS): Who {
  const cmdline = detail.cmdline.trim();
  return {
    cmdline: cmdline === '' ? null : truncateCmdline(cmdline, cmdlineMax),
    user: detail.user,
    uid: detail.uid,
    ...parseCgroup(detail.cgroup),
  };
}
