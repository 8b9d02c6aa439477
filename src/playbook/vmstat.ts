import type { Vmstat } from '../model/facts.js';
import { bodyLines, intField, parseFailed } from './sections.js';

/**
 * The /proc/vmstat counters the playbook keeps, from lines `NAME VALUE` or, from `grep -H`, `/proc/vmstat:NAME VALUE`.
 * Other vmstat lines are ignored. `pgmajfault` is required; `pswpin`/`pswpout` default to 0 (no swap counters).
 */
export function parseVmstat(text: string, t: number, where = 'vmstat'): Vmstat {
  const v: Partial<Record<'pgmajfault' | 'pswpin' | 'pswpout', number>> = {};
  bodyLines(text).forEach((raw, i) => {
    const line = raw.startsWith('/proc/vmstat:') ? raw.slice('/proc/vmstat:'.length) : raw;
    const m = /^(pgmajfault|pswpin|pswpout) (\S+)$/.exec(line);
    if (m) v[m[1] as 'pgmajfault'] = intField(m[2], `${where} line ${i + 1} ${m[1]}`);
  });
  if (v.pgmajfault === undefined) throw parseFailed(`${where}: no pgmajfault line`);
  return { t, pgmajfault: v.pgmajfault, pswpin: v.pswpin ?? 0, pswpout: v.pswpout ?? 0 };
}
