import type { MapEntry } from '../model/facts.js';
import { bodyLines, parseFailed } from './sections.js';

/**
 * /proc/PID/maps lines: `start-end perms offset dev inode [pathname]`. The kernel pads the pathname to a column
 * with spaces, writes a trailing space after the inode of an anonymous mapping, escapes a newline in a name as
 * `\012` (decoded here: `path` is the real name), and appends ` (deleted)` to deleted files, shmem and
 * `/dev/zero` shared mappings. Pathnames are kept as shown otherwise: `[heap]`, `[stack]`, `[vdso]`,
 * `[anon:name]`, `/memfd:name (deleted)`, `/SYSV00000000 (deleted)`, `/dev/shm/…`.
 */
const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][ps]) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)(?: +(.*))?$/;

export function parseMapsLine(line: string, where = 'maps'): MapEntry {
  const m = MAPS_LINE.exec(line);
  if (!m) throw parseFailed(`${where}: not a maps line: ${JSON.stringify(line.slice(0, 120))}`);
  return {
    start: parseInt(m[1] ?? '', 16),
    end: parseInt(m[2] ?? '', 16),
    perms: m[3] ?? '',
    offset: parseInt(m[4] ?? '', 16),
    dev: m[5] ?? '',
    inode: Number(m[6]),
    path: (m[7] ?? '').replace(/\\012/g, '\n'),
  };
}

/** Parses a maps dump; blank lines are ignored, anything else malformed throws parse_failed with its line. */
export function parseMaps(text: string, where = 'maps'): MapEntry[] {
  const out: MapEntry[] = [];
  bodyLines(text).forEach((line, i) => {
    if (line === '') return;
    out.push(parseMapsLine(line, `${where} line ${i + 1}`));
  });
  return out;
}
