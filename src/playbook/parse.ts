import type { z } from 'zod';
import { TriageError } from '../errors.js';
import {
  captureFactsSchema,
  nodeInfoSchema,
  rankFactsSchema,
  tierRequestSchema,
  tierSchema,
  type CaptureFacts,
  type FaultSample,
  type NodeInfo,
  type Psi,
  type RankFacts,
  type Tier,
  type TierAttempt,
  type Vmstat,
} from '../model/facts.js';
import { parseBpftrace } from './bpftrace.js';
import { parseMeminfo } from './meminfo.js';
import { parseNodeSection, parsePerfCheck, perfRefusal, toolMessage } from './node.js';
import { parsePerfScript, type TracerOutput } from './perf-script.js';
import { parseProcSections } from './proc.js';
import { parsePsi } from './psi.js';
import { bodyLines, checkEnvelope, intField, numAttr, parseFailed, splitSections, strAttr, type Section } from './sections.js';
import { parseSnapshotDump } from './snapshot.js';
import { parseStatDump } from './stat.js';
import { parseTracepoint } from './tracepoint.js';
import { parseVmstat } from './vmstat.js';

/**
 * Parsers of the playbook's three steps (see playbook.sh for the output format). Pure: text in, typed facts out,
 * validated against the schemas of src/model/facts.ts. Malformed or cut output throws
 * `TriageError('parse_failed')` naming the section and line.
 */

function validate<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw parseFailed(`${what}: facts do not match the schema: ${issues.join('; ')}`);
  }
  return r.data;
}

function one(sections: readonly Section[], name: string, step: string): Section {
  const found = sections.filter((s) => s.name === name);
  if (found.length !== 1) throw parseFailed(`${step}: expected one "${name}" section, found ${found.length}`);
  return found[0] as Section;
}

function nodeInfo(sections: readonly Section[], step: string): NodeInfo {
  const node = parseNodeSection(one(sections, 'node', step));
  const check = sections.find((s) => s.name === 'perf-check');
  return check ? { ...node, perfMajorFaults: parsePerfCheck(check) } : node;
}

/** Output of `probe NONCE`: the node's kernel, tools, tmpfs mounts and whether perf can record major faults. */
export function parseProbe(stdout: string, nonce: string): NodeInfo {
  const sections = splitSections(stdout, nonce);
  checkEnvelope(sections, 'probe');
  return validate(nodeInfoSchema, nodeInfo(sections, 'probe'), 'probe');
}

/**
 * The `counters` section of a rank snapshot: `grep -H` lines of /proc/vmstat, /proc/PID/io read_bytes and
 * (version 2) the non-zero VmSwap lines of /proc/PID/status.
 */
function parseCounters(
  s: Section,
  t: number,
  withSwap: boolean,
): { vmstat: Vmstat; readBytes: Record<string, number>; vmSwapKb?: Record<string, number> } {
  // VmSwap is read at some snapshots only (`swap=1`); older output (no attribute) had it at every one.
  withSwap = withSwap && s.attrs.swap !== '0';
  const readBytes: Record<string, number> = {};
  const vmSwapKb: Record<string, number> = {};
  const vm: string[] = [];
  bodyLines(s.body).forEach((line, i) => {
    const w = `counters i=${s.attrs.i ?? '?'} (line ${s.line + i + 1})`;
    if (line.startsWith('/proc/vmstat:')) {
      vm.push(line);
      return;
    }
    const m = /^\/proc\/(\d+)\/io:read_bytes: (\d+)$/.exec(line);
    if (m) {
      readBytes[m[1] ?? ''] = intField(m[2], w);
      return;
    }
    const sw = /^\/proc\/(\d+)\/status:VmSwap:\s+(\d+) kB$/.exec(line);
    if (sw && withSwap) {
      vmSwapKb[sw[1] ?? ''] = intField(sw[2], w);
      return;
    }
    throw parseFailed(`${w}: unexpected line ${JSON.stringify(line.slice(0, 100))}`);
  });
  return {
    vmstat: parseVmstat(vm.join('\n'), t, `counters i=${s.attrs.i ?? '?'} vmstat`),
    readBytes,
    ...(withSwap ? { vmSwapKb } : {}),
  };
}

function psiPair(sections: readonly Section[], step: string): Psi[] | null {
  const byPhase = (phase: string): Section => {
    const s = sections.find((x) => x.name === 'psi' && x.attrs.phase === phase);
    if (!s) throw parseFailed(`${step}: no "psi phase=${phase}" section`);
    return s;
  };
  const a = byPhase('start');
  const b = byPhase('end');
  if (a.attrs.ok !== '1' || b.attrs.ok !== '1') return null;
  return [parsePsi(a.body, 'psi phase=start'), parsePsi(b.body, 'psi phase=end')];
}

/**
 * Output of `rank NONCE SAMPLE_SECONDS`: node info, SAMPLE_SECONDS+1 snapshots one second apart (every process's
 * stat, io read_bytes and, from version 2, VmSwap; /proc/vmstat counters), PSI at start and end, and /proc/meminfo.
 * Version 3 reads the whole process table at the first, second and last snapshot only, and VmSwap of the processes
 * that faulted in the first second (at the second and the last): each snapshot is one `head -v` dump.
 */
export function parseRank(stdout: string, nonce: string): RankFacts {
  const sections = splitSections(stdout, nonce);
  checkEnvelope(sections, 'rank');
  const node = nodeInfo(sections, 'rank');
  const memory = parseMeminfo(one(sections, 'meminfo', 'rank').body);
  const psiPhases = sections.filter((s) => s.name === 'psi');
  if (psiPhases.length !== 2) throw parseFailed(`rank: expected psi phase=start and phase=end, found ${psiPhases.length} psi sections`);
  const psi = psiPair(psiPhases, 'rank');
  const begin0 = sections[0] as Section;
  const version = begin0.attrs.version === undefined ? 1 : numAttr(begin0, 'version');
  const withSwap = version >= 2;
  const snapshots: RankFacts['snapshots'] = [];
  const vmstat: Vmstat[] = [];
  for (let k = 0; k < sections.length; k++) {
    const s = sections[k] as Section;
    if (s.name !== 'snap') continue;
    const i = numAttr(s, 'i');
    if (i !== snapshots.length) throw parseFailed(`rank: snapshot i=${i} at line ${s.line} out of order (expected i=${snapshots.length})`);
    const t = numAttr(s, 'uptime');
    if (version >= 3) {
      // One dump per snapshot; VmSwap only for the processes whose status was read (a zero is listed).
      const d = parseSnapshotDump(s.body, t, `snapshot i=${i} (line ${s.line})`);
      const swapRead = Object.keys(d.vmSwapKb).length > 0;
      snapshots.push({ t, procs: d.procs, readBytes: d.readBytes, ...(swapRead ? { vmSwapKb: d.vmSwapKb, vmSwapListed: true } : {}) });
      vmstat.push(d.vmstat);
      continue;
    }
    const c = sections[k + 1];
    if (!c || c.name !== 'counters' || c.attrs.i !== s.attrs.i) throw parseFailed(`rank: snapshot i=${i} at line ${s.line} has no counters section after it`);
    const counters = parseCounters(c, t, withSwap);
    snapshots.push({
      t,
      procs: parseStatDump(s.body, `snapshot i=${i}`),
      readBytes: counters.readBytes,
      ...(counters.vmSwapKb ? { vmSwapKb: counters.vmSwapKb } : {}),
    });
    vmstat.push(counters.vmstat);
  }
  const begin = begin0;
  const expected = begin.attrs.seconds === undefined ? undefined : numAttr(begin, 'seconds') + 1;
  if (expected !== undefined && snapshots.length !== expected) {
    throw parseFailed(`rank: ${snapshots.length} snapshots, expected ${expected}`);
  }
  return validate(rankFactsSchema, { node, snapshots, vmstat, psi, memory }, 'rank');
}

function tierAttr(s: Section): Tier {
  const t = tierSchema.safeParse(s.attrs.tier);
  if (!t.success) throw parseFailed(`section "${s.name}" at line ${s.line}: unknown tier ${JSON.stringify(s.attrs.tier)}`);
  return t.data;
}

const TOOL_OF: Record<Tier, string> = { perf: 'perf', tracepoint: 'perf', bpftrace: 'bpftrace', none: '' };

function attemptReason(s: Section, tier: Tier): string {
  if (s.attrs.ok === '1') return tier === 'none' ? 'no tracer: /proc evidence only' : 'recorded';
  const why = s.attrs.reason ?? 'failed';
  const msg = toolMessage(s.body);
  const suffix = msg ? `: ${msg}` : '';
  switch (why) {
    case 'missing':
      return `${TOOL_OF[tier]} is not installed`;
    case 'no-tmpdir':
      return 'cannot create a temporary directory';
    case 'script-failed':
      return `perf script failed (exit ${s.attrs.rc ?? '?'})${suffix}`;
    case 'failed': {
      const refused = perfRefusal(s.body);
      if (TOOL_OF[tier] === 'perf' && refused) return refused;
      return `${TOOL_OF[tier] || tier} failed (exit ${s.attrs.rc ?? '?'})${suffix}`;
    }
    default:
      return `${TOOL_OF[tier] || tier} failed (exit ${s.attrs.rc ?? '?'})${suffix}`;
  }
}

function parseSamples(s: Section): TracerOutput {
  const format = strAttr(s, 'format');
  switch (format) {
    case 'perf-script':
      return parsePerfScript(s.body, `samples (line ${s.line})`);
    case 'perf-script-tracepoint':
      return parseTracepoint(s.body, `samples (line ${s.line})`);
    case 'bpftrace':
      return parseBpftrace(s.body, `samples (line ${s.line})`);
    default:
      throw parseFailed(`samples section at line ${s.line}: unknown format ${JSON.stringify(format)}`);
  }
}

/**
 * Output of `capture NONCE SECONDS TIER PID…`: the tiers tried and why they failed, the samples of the tier
 * used, /proc/vmstat at the start and end of the window, and the details (maps…) of the given processes and of
 * the processes seen in the samples. `lost` adds what the tracer lost and what the node cut
 * (beyond its sample cap).
 */
export function parseCapture(stdout: string, nonce: string): CaptureFacts {
  const sections = splitSections(stdout, nonce);
  const { begin, end } = checkEnvelope(sections, 'capture');
  const requested = tierRequestSchema.safeParse(begin.attrs.tier);
  if (!requested.success) throw parseFailed(`capture: begin marker has an unknown tier ${JSON.stringify(begin.attrs.tier)}`);

  const tracer = one(sections, 'tracer', 'capture');
  const tier = tierAttr(tracer);
  const seconds = numAttr(tracer, 'seconds');
  const target = tracer.attrs.target === 'pids' || tracer.attrs.target === 'all' ? tracer.attrs.target : undefined;
  // Output from before sampling has no period: every fault was recorded.
  const period = tracer.attrs.period === undefined ? 1 : numAttr(tracer, 'period');
  if (!Number.isInteger(period) || period < 1) throw parseFailed(`capture: tracer at line ${tracer.line}: period=${tracer.attrs.period} is not a positive integer`);
  const periodRate = tracer.attrs.rate === undefined ? undefined : numAttr(tracer, 'rate');

  let samples: FaultSample[] = [];
  let lost = 0;
  const samplesSections = sections.filter((s) => s.name === 'samples');
  if (samplesSections.length > 1) throw parseFailed(`capture: ${samplesSections.length} samples sections`);
  const ss = samplesSections[0];
  if (ss) {
    const idx = sections.indexOf(ss);
    if (sections[idx + 1]?.name !== 'samples-end') throw parseFailed(`capture: samples section at line ${ss.line} is not closed by samples-end`);
    if (tierAttr(ss) !== tier) throw parseFailed(`capture: samples of tier ${ss.attrs.tier} but tracer tier ${tier}`);
    const out = parseSamples(ss);
    samples = out.samples;
    const total = ss.attrs.total === undefined ? out.lines : numAttr(ss, 'total');
    lost = out.lost + Math.max(0, total - out.lines);
  } else if (tier !== 'none') {
    throw parseFailed(`capture: tier ${tier} but no samples section`);
  }

  const attempts: TierAttempt[] = sections
    .filter((s) => s.name === 'attempt')
    .map((s) => {
      const t = tierAttr(s);
      const ok = s.attrs.ok === '1';
      let reason = attemptReason(s, t);
      if (ok && t === tier && t !== 'none') reason = `recorded ${samples.length} samples${lost ? `, ${lost} lost or cut` : ''}`;
      if (ok && t === 'none' && requested.data === 'none') reason = 'tier none requested: /proc evidence only';
      return { tier: t, ok, reason };
    });

  const vm = (phase: string): Vmstat => {
    const s = sections.find((x) => x.name === 'vmstat' && x.attrs.phase === phase);
    if (!s) throw parseFailed(`capture: no "vmstat phase=${phase}" section`);
    return parseVmstat(s.body, numAttr(s, 'uptime'), `vmstat phase=${phase} (line ${s.line})`);
  };
  const vmstat = [vm('start'), vm('end')];
  const pidsGone = sections.filter((s) => s.name === 'pid-gone').map((s) => intField(s.attrs.pid, `pid-gone at line ${s.line}`));
  const pidsExited = sections.filter((s) => s.name === 'pid-exited').map((s) => intField(s.attrs.pid, `pid-exited at line ${s.line}`));

  const facts: CaptureFacts = {
    tier,
    requested: requested.data,
    ...(target ? { target } : {}),
    pidsGone,
    ...(pidsExited.length > 0 ? { pidsExited } : {}),
    attempts,
    seconds,
    ...(period > 1 ? { period } : {}),
    ...(periodRate === undefined ? {} : { periodRate }),
    samples,
    lost,
    procs: parseProcSections(sections),
    vmstat,
  };
  if (end.attrs.status !== 'ok' && end.attrs.status !== 'tracer-unavailable') {
    throw parseFailed(`capture: unknown end status ${JSON.stringify(end.attrs.status)}`);
  }
  return validate(captureFactsSchema, facts, 'capture');
}

/**
 * The error the bot raises when a forced tier (config `tracer: perf|bpftrace|tracepoint`) could not run:
 * null when the capture used the tier asked for, or `auto`/`none` was asked.
 */
export function tracerUnavailable(facts: CaptureFacts): TriageError | null {
  const req = facts.requested;
  if (req === undefined || req === 'auto' || req === 'none' || req === facts.tier) return null;
  const why = facts.attempts.find((a) => a.tier === req && !a.ok)?.reason ?? 'not available';
  return new TriageError('tracer_unavailable', `tracer ${req} is unavailable on the node: ${why}`);
}
