import type { FaultSample } from '../model/facts.js';
import type { TracerOutput } from './perf-script.js';
import { bodyLines, hexField, intField, parseFailed } from './sections.js';

/**
 * Output of the playbook's bpftrace program (kprobe/kretprobe on handle_mm_fault), one line per major fault:
 * `PID TID NSECS ADDR MAJOR` from `printf("%d %d %llu %lx 1\n", …)`; NSECS is bpftrace's `nsecs` (monotonic),
 * returned here as seconds. bpftrace's own lines are understood: `Attaching N probes...`, `Lost N events`
 * (counted as lost) and `WARNING: …` (ignored).
 */
export function parseBpftrace(text: string, where = 'bpftrace'): TracerOutput {
  const samples: FaultSample[] = [];
  let lost = 0;
  const lines = bodyLines(text);
  lines.forEach((line, i) => {
    const w = `${where} line ${i + 1}`;
    if (line.trim() === '' || /^Attaching \d+ probes?\.*$/.test(line) || line.startsWith('WARNING')) return;
    const l = /^Lost (\d+) events$/.exec(line.trim());
    if (l) {
      lost += Number(l[1]);
      return;
    }
    const m = /^(\d+) (\d+) (\d+) ([0-9a-f]+) ([01])$/.exec(line.trim());
    if (!m) throw parseFailed(`${w}: not a bpftrace sample line: ${JSON.stringify(line.slice(0, 120))}`);
    samples.push({
      pid: intField(m[1], w),
      tid: intField(m[2], w),
      time: Number(m[3]) / 1e9,
      addr: hexField(m[4], `${w} addr`),
      major: m[5] === '1',
    });
  });
  return { samples, lost, lines: lines.length };
}
