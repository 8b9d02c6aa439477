import type { ProcDetail } from '../model/facts.js';
import { parseMaps } from './maps.js';
import { bodyLines, intField, parseFailed, type Section } from './sections.js';
import { parseStat } from './stat.js';

/** Sub-sections the playbook prints for one process after `proc pid=P alive=1`. */
const PARTS = ['pstat', 'cmdline', 'status', 'user', 'cgroup', 'maps', 'smaps'] as const;
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
 * The `smaps` section: `START KB` per mapping that has something in swap (START in hex, as maps prints it).
 * Empty when nothing is in swap or smaps was unreadable (another user's process without root).
 */
export function parseSmapsSwap(s: Section): Record<string, number> {
  const out: Record<string, number> = {};
  bodyLines(s.body).forEach((line, i) => {
    const m = /^([0-9a-f]{1,16}) (\d+)$/.exec(line);
    if (!m) throw parseFailed(`smaps section at line ${s.line}: line ${i + 1} is not "START KB": ${JSON.stringify(line.slice(0, 80))}`);
    out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  });
  return out;
}

/**
 * Builds the per-process details of a capture from its `proc` / `pstat` / `cmdline` / `status` / `user` /
 * `cgroup` / `maps` / `smaps` sections. A pid marked `alive=0` (gone before it could be read) is left out; a process that
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
      // smaps needs the same access as maps: a live process always has mappings, so no maps means neither was readable.
      ...(p.smaps && maps.length > 0 ? { smapsSwapKb: parseSmapsSwap(p.smaps) } : {}),
    };
  }
  return out;
}
