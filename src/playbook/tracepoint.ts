import { parsePerfLines, type TracerOutput } from './perf-script.js';
import { hexField, parseFailed } from './sections.js';

/**
 * `perf record -e exceptions:page_fault_user -c 1` then `perf script --show-lost-events -F
 * trace:pid,tid,time,trace`: `27793/27793  1170.770508: address=0x7f2c2fcb0000 ip=0x5631d950f3e0 error_code=0x4`.
 * The tracepoint fires on every user page fault, minor and major: `major` is null (unknown).
 */
export function parseTracepoint(text: string, where = 'tracepoint'): TracerOutput {
  return parsePerfLines(text, where, (rest, w) => {
    const m = /(?:^|\s)address=(\S+)/.exec(rest);
    if (!m) throw parseFailed(`${w}: no address= in ${JSON.stringify(rest.slice(0, 120))}`);
    return { addr: hexField(m[1], `${w} address`), major: null };
  });
}
