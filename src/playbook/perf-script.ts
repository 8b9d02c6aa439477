import type { FaultSample } from '../model/facts.js';
import { bodyLines, hexField, intField, parseFailed } from './sections.js';

/** Samples decoded from one tracer's output. */
export interface TracerOutput {
  samples: FaultSample[];
  /** Events the tracer itself reported as lost. */
  lost: number;
  /** Lines read, samples or not (to compare with the playbook's line count and find what the node cut). */
  lines: number;
}

/** `PID/TID TIME: REST`, as `perf script -F …pid,tid,time,…` prints it (columns padded, or squeezed by tr -s). */
const PERF_LINE = /^\s*(-?\d+)\/(-?\d+)\s+(\d+(?:\.\d+)?):\s+(.*)$/;
const LOST = /^PERF_RECORD_LOST(_SAMPLES)? lost (\d+)\s*$/;

/**
 * Shared driver for perf script outputs: decodes the `PID/TID TIME:` prefix and the `PERF_RECORD_LOST` lines
 * printed by `--show-lost-events`, and hands the rest of a sample line to `decode`.
 */
export function parsePerfLines(
  text: string,
  where: string,
  decode: (rest: string, where: string) => { addr: number; major: boolean | null },
): TracerOutput {
  const samples: FaultSample[] = [];
  let lost = 0;
  let lostSamples = 0;
  const lines = bodyLines(text);
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const w = `${where} line ${i + 1}`;
    const m = PERF_LINE.exec(line);
    if (!m) throw parseFailed(`${w}: not a perf script line: ${JSON.stringify(line.slice(0, 120))}`);
    const rest = (m[4] ?? '').trim();
    const l = LOST.exec(rest);
    if (l) {
      if (l[1]) lostSamples += Number(l[2]);
      else lost += Number(l[2]);
      return;
    }
    const { addr, major } = decode(rest, w);
    samples.push({ pid: intField(m[1], w), tid: intField(m[2], w), time: Number(m[3]), addr, major });
  });
  return { samples, lost: Math.max(lost, lostSamples), lines: lines.length };
}

/**
 * `perf record -e major-faults -c P -d` then `perf script --show-lost-events -F sw:pid,tid,time,addr`:
 * `  8049/8049    553.853731:     7fddb5ac4000`. Every sample is a major fault (1 in P of them, P from the
 * capture's tracer marker); addr is the faulting address.
 */
export function parsePerfScript(text: string, where = 'perf script'): TracerOutput {
  return parsePerfLines(text, where, (rest, w) => ({ addr: hexField(rest, `${w} addr`), major: true }));
}
