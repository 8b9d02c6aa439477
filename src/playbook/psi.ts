import type { Psi } from '../model/facts.js';
import { bodyLines, parseFailed } from './sections.js';

type PsiLine = Psi['some'];

/**
 * /proc/pressure/memory: `some avg10=0.00 avg60=0.00 avg300=0.00 total=0` and `full …` (total in µs). The `full`
 * line is null when absent (older kernels print only `some` for some resources).
 */
export function parsePsi(text: string, where = 'psi'): Psi {
  let some: PsiLine | undefined;
  let full: PsiLine | null = null;
  bodyLines(text).forEach((line, i) => {
    if (line.trim() === '') return;
    const m = /^(some|full) avg10=(\d+(?:\.\d+)?) avg60=(\d+(?:\.\d+)?) avg300=(\d+(?:\.\d+)?) total=(\d+)$/.exec(line);
    if (!m) throw parseFailed(`${where} line ${i + 1}: not a PSI line: ${JSON.stringify(line.slice(0, 100))}`);
    const v = { avg10: Number(m[2]), avg60: Number(m[3]), avg300: Number(m[4]), total: Number(m[5]) };
    if (m[1] === 'some') some = v;
    else full = v;
  });
  if (!some) throw parseFailed(`${where}: no "some" line`);
  return { some, full };
}
