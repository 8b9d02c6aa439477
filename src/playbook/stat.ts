import type { ProcStat } from '../model/facts.js';
import { intField, parseFailed } from './sections.js';

/**
 * /proc/PID/stat records. Field 2, comm, is in parentheses, at most 15 bytes for a user process, and may contain
 * spaces, parentheses and newlines: it runs from the first `(` to the LAST `)` of the record, and the fields after
 * it are numbers (field 3 state, 4 ppid, 10 minflt, 12 majflt). The playbook may cut each line after field 28
 * (`cut -d ' ' -f 1-28`), which always keeps majflt.
 */
export function parseStat(record: string, where = '/proc/PID/stat'): ProcStat {
  const open = record.indexOf('(');
  const close = record.lastIndexOf(')');
  if (open <= 0 || close < open) throw parseFailed(`${where}: no "(comm)" in ${JSON.stringify(record.slice(0, 80))}`);
  const pidText = record.slice(0, open);
  if (!/^\d+ $/.test(pidText)) throw parseFailed(`${where}: bad pid field ${JSON.stringify(pidText)}`);
  const pid = Number(pidText.trim());
  const comm = record.slice(open + 1, close);
  const rest = record.slice(close + 1);
  if (!rest.startsWith(' ')) throw parseFailed(`${where}: pid ${pid}: no space after comm`);
  // rest: " S ppid pgrp session tty_nr tpgid flags minflt cminflt majflt [cmajflt …]"
  const f = rest.trim().split(/\s+/);
  if (f.length < 10) throw parseFailed(`${where}: pid ${pid}: only ${f.length} fields after comm (record cut?)`);
  const state = f[0] ?? '';
  if (!/^[A-Za-z]$/.test(state)) throw parseFailed(`${where}: pid ${pid}: bad state ${JSON.stringify(state)}`);
  return {
    pid,
    comm,
    state,
    ppid: intField(f[1], `${where}: pid ${pid} ppid`),
    minflt: intField(f[7], `${where}: pid ${pid} minflt`),
    majflt: intField(f[9], `${where}: pid ${pid} majflt`),
  };
}

export interface DumpEntry {
  /** The file name from the header, e.g. `/proc/42/stat`. */
  path: string;
  /** What head printed for the file, without the trailing newlines (empty when the read failed). */
  text: string;
}

/**
 * Splits the output of `head -v -c N FILE…` (GNU coreutils or busybox): each file is announced by a header line
 * `==> FILE <==`, files after the first are preceded by an extra newline. Only headers whose FILE matches `pathRe`
 * count, so content that merely looks like a header (a comm is too short to hold one) cannot split a record.
 * A file that could not be opened has no header at all; one that vanished while read has a header and no text.
 */
export function splitHeadDump(dump: string, pathRe: RegExp): DumpEntry[] {
  const headerRe = /(?:^|\n)==> ([^\n]*) <==(?=\n|$)/g;
  const headers: { path: string; start: number; contentStart: number }[] = [];
  for (let m = headerRe.exec(dump); m; m = headerRe.exec(dump)) {
    const path = m[1] ?? '';
    if (!pathRe.test(path)) continue;
    const start = m.index + (m[0].startsWith('\n') ? 1 : 0);
    headers.push({ path, start, contentStart: Math.min(dump.length, m.index + m[0].length + 1) });
  }
  const first = headers[0];
  if (first && dump.slice(0, first.start).trim() !== '') {
    throw parseFailed(`head dump: text before the first header: ${JSON.stringify(dump.slice(0, 60))}`);
  }
  if (!first && dump.trim() !== '') throw parseFailed(`head dump: no "==> FILE <==" header in ${JSON.stringify(dump.slice(0, 60))}`);
  return headers.map((h, i) => {
    const next = headers[i + 1];
    const raw = dump.slice(h.contentStart, next ? next.start : dump.length);
    return { path: h.path, text: raw.replace(/\n+$/, '') };
  });
}

const STAT_PATH = /^\/proc\/(\d+)\/stat$/;

/** Parses a `head -v` dump of /proc/[0-9]*\/stat; processes that vanished (empty records) are skipped. */
export function parseStatDump(dump: string, where = 'stat dump'): ProcStat[] {
  const out: ProcStat[] = [];
  for (const e of splitHeadDump(dump, STAT_PATH)) {
    if (e.text === '') continue;
    const st = parseStat(e.text, `${where}: ${e.path}`);
    const pid = Number(STAT_PATH.exec(e.path)?.[1]);
    if (st.pid !== pid) throw parseFailed(`${where}: ${e.path} holds the record of pid ${st.pid}`);
    out.push(st);
  }
  return out;
}
