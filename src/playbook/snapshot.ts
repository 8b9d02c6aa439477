import type { ProcStat, Vmstat } from '../model/facts.js';
import { intField, parseFailed } from './sections.js';
import { parseStat, splitHeadDump } from './stat.js';
import { parseVmstat } from './vmstat.js';

/**
 * A rank snapshot from version 3 of the playbook: one or more `head -v` dumps, back to back, of /proc/vmstat and
 * of /proc/PID/stat, /proc/PID/io and /proc/PID/status files. Which processes' files are there depends on the
 * snapshot (every process's stat at the first, second and last; io and status for some only), so a file that is
 * absent was not read, and says nothing about the process.
 */
export interface SnapshotDump {
  procs: ProcStat[];
  /** read_bytes by pid, for the io files read. */
  readBytes: Record<string, number>;
  /** VmSwap (kB) by pid, for the status files read; 0 for a status without a VmSwap line (no user memory). */
  vmSwapKb: Record<string, number>;
  vmstat: Vmstat;
}

const DUMP_PATH = /^\/proc\/(?:vmstat|(\d+)\/(stat|io|status))$/;

export function parseSnapshotDump(dump: string, t: number, where = 'snapshot'): SnapshotDump {
  const procs: ProcStat[] = [];
  const readBytes: Record<string, number> = {};
  const vmSwapKb: Record<string, number> = {};
  let vmstat: Vmstat | undefined;
  for (const e of splitHeadDump(dump, DUMP_PATH)) {
    const m = DUMP_PATH.exec(e.path);
    const pid = m?.[1];
    const w = `${where}: ${e.path}`;
    if (pid === undefined) {
      if (vmstat) throw parseFailed(`${where}: /proc/vmstat twice`);
      vmstat = parseVmstat(e.text, t, w);
      continue;
    }
    // A process that exited between the listing and the read leaves an empty file.
    if (e.text === '') continue;
    switch (m?.[2]) {
      case 'stat': {
        const st = parseStat(e.text, w);
        if (st.pid !== Number(pid)) throw parseFailed(`${w} holds the record of pid ${st.pid}`);
        procs.push(st);
        break;
      }
      case 'io': {
        const rb = /^read_bytes: (\d+)$/m.exec(e.text);
        if (!rb) throw parseFailed(`${w}: no read_bytes line`);
        readBytes[pid] = intField(rb[1], `${w} read_bytes`);
        break;
      }
      default: {
        // Name: is the only free text in status, and the kernel escapes a newline in it.
        const sw = /^VmSwap:[ \t]*(\S+) kB$/m.exec(e.text);
        if (sw) vmSwapKb[pid] = intField(sw[1], `${w} VmSwap`);
        else if (/^VmSwap:/m.test(e.text)) throw parseFailed(`${w}: malformed VmSwap line`);
        else vmSwapKb[pid] = 0;
      }
    }
  }
  if (!vmstat) throw parseFailed(`${where}: no /proc/vmstat in the snapshot`);
  return { procs, readBytes, vmSwapKb, vmstat };
}
