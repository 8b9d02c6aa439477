import type { NodeInfo } from '../model/facts.js';
import { bodyLines, intField, parseFailed, type Section } from './sections.js';

/** Decodes the octal escapes of /proc/mounts fields (`\040` space, `\011` tab, `\012` newline, `\134` backslash). */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * The most telling line of a tool's messages (the `! ` lines the playbook prints): the text of the first
 * `Error: …`, else the line after a bare `Error:`, else the first non-empty line. At most 200 characters.
 */
export function toolMessage(body: string): string {
  const lines = bodyLines(body)
    .map((l) => (l.startsWith('! ') ? l.slice(2) : l.startsWith('!') ? l.slice(1) : l).trim())
    .filter((l) => l !== '');
  let pick = '';
  for (let i = 0; i < lines.length && !pick; i++) {
    const m = /^(?:Error|ERROR):\s*(.*)$/.exec(lines[i] ?? '');
    if (m) pick = m[1] ? m[1] : (lines[i + 1] ?? '');
  }
  if (!pick) pick = lines[0] ?? '';
  return pick.length > 200 ? `${pick.slice(0, 199)}…` : pick;
}

/** The `node` section: `key value` lines written by the playbook's pft_node. */
export function parseNodeSection(s: Section): Omit<NodeInfo, 'perfMajorFaults'> {
  const kv = new Map<string, string>();
  const tmpfs: string[] = [];
  bodyLines(s.body).forEach((line, i) => {
    const sp = line.indexOf(' ');
    const key = sp === -1 ? line : line.slice(0, sp);
    const value = sp === -1 ? '' : line.slice(sp + 1);
    if (key === 'tmpfs') {
      // A whole /proc/self/mounts line: DEVICE MOUNTPOINT FSTYPE OPTIONS 0 0
      const f = value.split(' ');
      if (f.length < 3 || f[2] !== 'tmpfs') throw parseFailed(`node section line ${s.line + i + 1}: bad mounts line ${JSON.stringify(value.slice(0, 100))}`);
      const mp = unescapeMountField(f[1] ?? '');
      if (!tmpfs.includes(mp)) tmpfs.push(mp);
    } else if (key !== '') {
      kv.set(key, value);
    }
  });
  const where = (k: string): string => `node section (line ${s.line}) ${k}`;
  const tool = (k: string): string | null => {
    const v = kv.get(k) ?? '';
    return v.startsWith('/') ? v : null;
  };
  const paranoid = kv.get('paranoid') ?? '';
  const pageCluster = kv.get('pagecluster') ?? '';
  return {
    hostname: kv.get('hostname') ?? '',
    kernel: kv.get('kernel') ?? '',
    uid: intField(kv.get('uid'), where('uid')),
    pageSize: intField(kv.get('pagesize'), where('pagesize')),
    nproc: intField(kv.get('nproc'), where('nproc')),
    perfEventParanoid: paranoid === '' ? null : intField(paranoid, where('paranoid')),
    tools: { perf: tool('perf'), bpftrace: tool('bpftrace') },
    tmpfsMounts: tmpfs,
    ...(pageCluster === '' ? {} : { pageCluster: intField(pageCluster, where('pagecluster')) }),
  };
}

/**
 * perf's own explanation when the kernel refuses it to an unprivileged user (perf_event_paranoid ≥ 2 without
 * root, CAP_PERFMON or CAP_SYS_ADMIN), in one line; null for any other failure.
 */
export function perfRefusal(body: string): string | null {
  if (!/Access to performance monitoring and observability operations is limited|perf_event_paranoid setting is/.test(body)) return null;
  const level = /perf_event_paranoid setting is (-?\d+)/.exec(body)?.[1];
  const setting = level === undefined ? 'kernel.perf_event_paranoid too high for this user' : `kernel.perf_event_paranoid is ${level}`;
  const msg = toolMessage(body);
  return `perf refused (${setting}; needs root or CAP_PERFMON)${msg ? `: ${msg}` : ''}`;
}

/** The `perf-check` section: did a 0.1 s `perf record -e major-faults -c 1 -d -a` work, and if not, why. */
export function parsePerfCheck(s: Section): { ok: boolean; reason: string } {
  if (s.attrs.ok === '1') return { ok: true, reason: 'perf record -e major-faults -c 1 -d -a works' };
  const why = s.attrs.reason ?? 'failed';
  if (why === 'missing') return { ok: false, reason: 'perf is not installed' };
  if (why === 'no-tmpdir') return { ok: false, reason: 'cannot create a temporary directory for the trial' };
  const refused = perfRefusal(s.body);
  if (refused) return { ok: false, reason: refused };
  const msg = toolMessage(s.body);
  return { ok: false, reason: `perf record failed (exit ${s.attrs.rc ?? '?'})${msg ? `: ${msg}` : ''}` };
}
