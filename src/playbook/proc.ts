import type { ProcDetail } from '../model/facts.js';
import { parseMaps } from './maps.js';
import { bodyLines, intField, parseFailed, type Section } from './sections.js';
import { parseStat } from './stat.js';

/** Sub-sections the playbook prints for one process after `proc pid=P alive=1`. */
const PARTS = ['pstat', 'cmdline', 'status', 'user', 'cgroup', 'maps'] as const;
type Part = (typeof PARTS)[number];

function isPart(name: string): name is Part {
  return (PARTS as readonly string[]).includes(name);
}

/** Lines printed behind the `|` prefix (free text a process controls): the prefix removed. */
function pipedLines(s: Section): string[] {
  return bodyLines(s.body).map((l, i) => {
    if (!l.startsWith('|')) throw parseFailed(`section "${s.name}" at line ${s.line}: line ${i + 1} lacks the "|" prefix`);
    return l.slice(1);
  });
}

/**
 * Builds the per-process details of a capture from its `proc` / `pstat` / `cmdline` / `status` / `user` /
 * `cgroup` / `maps` sections. A pid marked `alive=0` (gone before it could be read) is left out; a process that
 * vanished while it was read keeps whatever was read (comm '' when its stat could not be read).
 */
export function parseProcSections(sections: readonly Section[]): Record<string, ProcDetail> {
  const parts = new Map<number, Partial<Record<Part, Section>>>();
  for (const s of sections) {
    if (s.name === 'proc') {
      const pid = intField(s.attrs.pid, `proc section at line ${s.line} pid`);
      if (s.attrs.alive === '1' && !parts.has(pid)) parts.set(pid, {});
    } else if (isPart(s.name)) {
      const pid = intField(s.attrs.pid, `${s.name} section at line ${s.line} pid`);
      const p = parts.get(pid);
      if (!p) throw parseFailed(`${s.name} section at line ${s.line}: pid ${pid} has no "proc alive=1" section before it`);
      p[s.name] = s;
    }
  }
  const out: Record<string, ProcDetail> = {};
  for (const [pid, p] of parts) {
    const statText = p.pstat?.body.replace(/\n+$/, '') ?? '';
    const stat = statText === '' ? null : parseStat(statText, `pstat of pid ${pid}`);
    if (stat && stat.pid !== pid) throw parseFailed(`pstat section of pid ${pid} holds pid ${stat.pid}`);
    let uid: number | null = null;
    let vmSwapKb: number | null = null;
    if (p.status) {
      for (const line of bodyLines(p.status.body)) {
        const u = /^Uid:\s+(\d+)/.exec(line);
        if (u) uid = Number(u[1]);
        const sw = /^VmSwap:\s+(\d+) kB$/.exec(line);
        if (sw) vmSwapKb = Number(sw[1]);
      }
    }
    const cmd = p.cmdline ? pipedLines(p.cmdline) : [];
    const user = p.user ? pipedLines(p.user)[0] : undefined;
    const maps = p.maps ? parseMaps(p.maps.body, `maps of pid ${pid}`) : [];
    if (!stat && maps.length === 0 && cmd.every((c) => c === '')) continue; // gone before anything was read
    out[String(pid)] = {
      pid,
      comm: stat?.comm ?? '',
      cmdline: (cmd[0] ?? '').trimEnd(),
      uid,
      user: user ? user : null,
      cgroup: p.cgroup ? pipedLines(p.cgroup) : [],
      vmSwapKb,
      maps,
    };
  }
  return out;
}
