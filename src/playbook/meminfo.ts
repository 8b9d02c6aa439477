import type { Memory } from '../model/facts.js';
import { bodyLines, parseFailed } from './sections.js';

/**
 * /proc/meminfo lines `Name:   VALUE kB`. MemAvailable is missing before Linux 3.14: then it is estimated as
 * MemFree + Buffers + Cached.
 */
export function parseMeminfo(text: string, where = 'meminfo'): Memory {
  const kb = new Map<string, number>();
  bodyLines(text).forEach((line) => {
    const m = /^([A-Za-z0-9_()]+):\s+(\d+)(?: kB)?$/.exec(line);
    if (m) kb.set(m[1] ?? '', Number(m[2]));
  });
  const need = (name: string): number => {
    const v = kb.get(name);
    if (v === undefined) throw parseFailed(`${where}: no ${name} line`);
    return v;
  };
  const memAvailableKb = kb.get('MemAvailable') ?? need('MemFree') + (kb.get('Buffers') ?? 0) + (kb.get('Cached') ?? 0);
  return {
    memTotalKb: need('MemTotal'),
    memAvailableKb,
    swapTotalKb: kb.get('SwapTotal') ?? 0,
    swapFreeKb: kb.get('SwapFree') ?? 0,
  };
}
