import { describe, expect, it } from 'vitest';
import { parseCapture, parseProbe, parseRank, tracerUnavailable } from '../../../src/playbook/parse.js';
import { fixture, NONCE, parseError } from './helpers.js';

const M = `@@pft:${NONCE}`;

describe('parseProbe', () => {
  it('reads the real probe output', () => {
    expect(parseProbe(fixture('playbook-probe.txt'), NONCE)).toEqual({
      hostname: 'vm',
      kernel: '6.18.44-fc-v782',
      uid: 0,
      pageSize: 4096,
      nproc: 2,
      perfEventParanoid: 2,
      tools: { perf: '/usr/bin/perf', bpftrace: null },
      tmpfsMounts: ['/dev/shm', '/mnt/sandboxing/model_tools_env/v1/python', '/sys/fs/cgroup'],
      perfMajorFaults: { ok: true, reason: 'perf record -e major-faults -c 1 -d -a works' },
    });
  });

  it('reports a failed perf trial with perf\'s own words, and a missing paranoid file as null', () => {
    const out = [
      `${M} begin step=probe version=1`, `${M} node`, 'hostname h', 'kernel 5.10', 'uid 1000', 'pagesize 65536', 'nproc 64',
      'paranoid ', 'perf /usr/bin/perf', 'bpftrace ', 'tmpfs tmpfs /run/a\\040b tmpfs rw 0 0',
      `${M} perf-check ok=0 reason=failed rc=255`, '! Error:', '! Access to performance monitoring and observability operations is limited.',
      `${M} end step=probe status=ok`, '',
    ].join('\n');
    const info = parseProbe(out, NONCE);
    expect(info).toMatchObject({ uid: 1000, pageSize: 65536, perfEventParanoid: null, tmpfsMounts: ['/run/a b'] });
    expect(info.perfMajorFaults).toEqual({
      ok: false,
      reason: 'perf refused (kernel.perf_event_paranoid too high for this user; needs root or CAP_PERFMON): Access to performance monitoring and observability operations is limited.',
    });
  });

  it('needs the whole output, with the right nonce', () => {
    const full = fixture('playbook-probe.txt');
    expect(parseError(() => parseProbe(full.slice(0, full.indexOf(`${M} end`)), NONCE)).message).toMatch(/truncated/);
    expect(parseError(() => parseProbe(full, 'fedcba9876543210')).message).toMatch(/no section markers/);
  });
});

describe('parseRank', () => {
  const facts = parseRank(fixture('playbook-rank.txt'), NONCE);

  it('reads 3 snapshots one second apart with every process', () => {
    expect(facts.snapshots).toHaveLength(3);
    const [a, b, c] = facts.snapshots;
    expect(b!.t - a!.t).toBeCloseTo(1, 1);
    expect(c!.t - b!.t).toBeCloseTo(1, 1);
    expect(a!.procs.length).toBeGreaterThan(50);
    expect(a!.procs.find((p) => p.pid === 1)).toMatchObject({ comm: 'process_api', ppid: 0 });
    expect(Object.keys(a!.readBytes).length).toBeGreaterThan(50);
  });

  it('sees the paced reader major-faulting about 300 times a second', () => {
    const maj = facts.snapshots.map((s) => s.procs.find((p) => p.pid === 27793)?.majflt ?? NaN);
    expect(maj[2]! - maj[0]!).toBeGreaterThan(400);
    expect(maj[2]! - maj[0]!).toBeLessThan(800);
    expect(facts.snapshots[2]!.readBytes['27793']).toBeGreaterThan(facts.snapshots[0]!.readBytes['27793']!);
  });

  it('keeps weird comms exactly', () => {
    const comms = facts.snapshots[0]!.procs.map((p) => p.comm);
    expect(comms).toContain('a) b\nc');
    expect(comms).toContain('(@@pft:\n==> ))');
  });

  it('reads vmstat per snapshot, PSI at start and end, and meminfo', () => {
    expect(facts.vmstat).toHaveLength(3);
    expect(facts.vmstat.map((v) => v.t)).toEqual(facts.snapshots.map((s) => s.t));
    expect(facts.vmstat[2]!.pgmajfault).toBeGreaterThan(facts.vmstat[0]!.pgmajfault);
    expect(facts.psi).toHaveLength(2);
    expect(facts.memory.memTotalKb).toBe(24683656);
    expect(facts.node.perfMajorFaults?.ok).toBe(true);
  });

  it('takes null PSI when the kernel has none', () => {
    const out = fixture('playbook-rank.txt').replace(/psi phase=(start|end) ok=1\nsome[^\n]*\nfull[^\n]*\n/g, 'psi phase=$1 ok=0\n');
    expect(parseRank(out, NONCE).psi).toBeNull();
  });

  it('fails on output cut anywhere', () => {
    const full = fixture('playbook-rank.txt');
    for (const frac of [0.1, 0.5, 0.99]) {
      const err = parseError(() => parseRank(full.slice(0, Math.floor(full.length * frac)), NONCE));
      expect(err.code).toBe('parse_failed');
    }
    expect(parseError(() => parseRank(full.slice(0, full.lastIndexOf(`${M} end`)), NONCE)).message).toMatch(/truncated/);
  });

  it('fails on a missing snapshot or a junk counters line', () => {
    const full = fixture('playbook-rank.txt');
    const noSnap = full.replace(/@@pft:0123456789abcdef snap i=2[\s\S]*?(?=@@pft:0123456789abcdef psi phase=end)/, '');
    expect(parseError(() => parseRank(noSnap, NONCE)).message).toMatch(/2 snapshots, expected 3/);
    const junk = full.replace('/proc/vmstat:pgmajfault', 'grep: weird\n/proc/vmstat:pgmajfault');
    expect(parseError(() => parseRank(junk, NONCE)).message).toMatch(/counters i=0.*unexpected line/);
  });
});

describe('parseRank, version 2: VmSwap per snapshot (real run while two swap thrashers ran)', () => {
  const facts = parseRank(fixture('playbook-rank-swap.txt'), NONCE);

  it('reads the non-zero VmSwap of each process per snapshot', () => {
    expect(facts.snapshots.map((s) => [s.vmSwapKb?.['31948'], s.vmSwapKb?.['31950']])).toEqual([
      [98848, 88],
      [98772, 92],
    ]);
    // Processes with nothing in swap print no line: absent means none.
    expect(facts.snapshots[0]!.procs.find((p) => p.pid === 1)).toBeDefined();
    expect(facts.snapshots[0]!.vmSwapKb?.['1']).toBeUndefined();
  });

  it('leaves vmSwapKb out for version 1 output, which did not read it', () => {
    expect(parseRank(fixture('playbook-rank.txt'), NONCE).snapshots.every((s) => s.vmSwapKb === undefined)).toBe(true);
  });

  it('rejects a VmSwap line in version 1 output, and a malformed one', () => {
    const v1 = fixture('playbook-rank.txt').replace('/proc/vmstat:pgmajfault', '/proc/1/status:VmSwap:\t  12 kB\n/proc/vmstat:pgmajfault');
    expect(parseError(() => parseRank(v1, NONCE)).message).toMatch(/unexpected line/);
    const bad = fixture('playbook-rank-swap.txt').replace('VmSwap:\t   98848 kB', 'VmSwap:\t   lots');
    expect(parseError(() => parseRank(bad, NONCE)).message).toMatch(/counters i=0.*unexpected line/);
  });
});

describe('parseCapture', () => {
  it('smaps Swap per mapping, shared memory included, unlike VmSwap (real run, tier none)', () => {
    const c = parseCapture(fixture('playbook-capture-none-swap.txt'), NONCE);
    const anon = c.procs['31948']!;
    const shm = c.procs['31950']!;
    expect(anon).toMatchObject({ comm: 'pft-anonthrash', vmSwapKb: 98752 });
    expect(anon.smapsSwapKb?.['7ff7d1e00000']).toBe(98696);
    // The /dev/shm mapping holds ~97 MiB of swap that VmSwap (88 kB) does not show.
    expect(shm).toMatchObject({ comm: 'pft-shmthrash', vmSwapKb: 88 });
    expect(shm.smapsSwapKb?.['7f531b13d000']).toBe(99252);
    expect(shm.maps.find((m) => m.start === 0x7f531b13d000)?.path).toBe('/dev/shm/pft-test-31928-a7997063');
  });

  it('smaps lines must be "START KB"', () => {
    const bad = fixture('playbook-capture-none-swap.txt').replace('7ff7d1e00000 98696', '7ff7d1e00000 Swap: 98696 kB');
    expect(parseError(() => parseCapture(bad, NONCE)).message).toMatch(/smaps section at line \d+: line \d+ is not "START KB"/);
  });

  it('no smaps figures when maps were unreadable (another user\'s process)', () => {
    const c = parseCapture(fixture('playbook-capture-fallback-nobody.txt'), NONCE);
    expect(c.procs['27793']?.smapsSwapKb).toBeUndefined();
  });

  it('perf tier on a pid: exact major-fault addresses and the maps read during the window', () => {
    const c = parseCapture(fixture('playbook-capture-perf-pid.txt'), NONCE);
    expect(c).toMatchObject({ tier: 'perf', requested: 'auto', target: 'pids', pidsGone: [], seconds: 1, lost: 0 });
    expect(c.attempts).toEqual([{ tier: 'perf', ok: true, reason: `recorded ${c.samples.length} samples` }]);
    expect(c.samples.length).toBeGreaterThan(200);
    expect(c.samples.every((s) => s.pid === 27793 && s.major === true)).toBe(true);
    const p = c.procs['27793']!;
    expect(p).toMatchObject({ comm: 'preader', cmdline: './preader /var/tmp/pft-fixture-reader.dat 120 300', uid: 0, user: 'root', vmSwapKb: 0 });
    expect(p.cgroup).toContain('0::/');
    // Every sampled address falls in the reader's 64 MiB r--s mapping of its file.
    const file = p.maps.filter((m) => m.path === '/var/tmp/pft-fixture-reader.dat');
    expect(file).toHaveLength(1);
    expect(file[0]!.end - file[0]!.start).toBe(64 << 20);
    expect(c.samples.every((s) => s.addr >= file[0]!.start && s.addr < file[0]!.end)).toBe(true);
    expect(c.vmstat).toHaveLength(2);
    expect(c.vmstat[1]!.pgmajfault - c.vmstat[0]!.pgmajfault).toBeGreaterThanOrEqual(c.samples.length);
    expect(tracerUnavailable(c)).toBeNull();
  });

  it('perf tier sampled 1 in P: the period and the rate before the window that chose it', () => {
    const c = parseCapture(fixture('playbook-capture-perf-sampled.txt'), NONCE);
    expect(c).toMatchObject({ tier: 'perf', requested: 'perf', target: 'pids', seconds: 1, period: 2, periodRate: 17500, lost: 0 });
    expect(c.samples).toHaveLength(151);
    expect(c.samples.every((s) => s.pid === 1784 && s.major === true)).toBe(true);
    // The node's own rate chose P (a faster reader ran next to the traced one): 17,500/s × 1 s needs 2 to fit
    // in a quarter of the 50,000-sample cap.
    expect(Math.ceil((c.periodRate! * c.seconds) / 12_500)).toBe(c.period);
  });

  it('output without a period (before sampling) means every fault: no period in the facts', () => {
    const c = parseCapture(fixture('playbook-capture-perf-pid.txt'), NONCE);
    expect(c.period).toBeUndefined();
    expect(c.periodRate).toBeUndefined();
  });

  it('refuses a period that is not a positive integer', () => {
    for (const bad of ['0', '1.5', 'x']) {
      const out = fixture('playbook-capture-perf-sampled.txt').replace(' period=2 ', ` period=${bad} `);
      expect(parseError(() => parseCapture(out, NONCE))).toMatchObject({ code: 'parse_failed' });
    }
  });

  it('tracepoint tier: addresses of all faults, major unknown', () => {
    const c = parseCapture(fixture('playbook-capture-tracepoint-pid.txt'), NONCE);
    expect(c.tier).toBe('tracepoint');
    expect(c.samples.length).toBeGreaterThan(200);
    expect(c.samples.every((s) => s.major === null)).toBe(true);
    expect(tracerUnavailable(c)).toBeNull();
  });

  it('bpftrace tier (hand-written): samples in seconds, lost events counted', () => {
    const c = parseCapture(fixture('playbook-capture-bpftrace-handwritten.txt'), NONCE);
    expect(c.tier).toBe('bpftrace');
    expect(c.samples).toHaveLength(20);
    expect(c.lost).toBe(2);
    expect(c.attempts.map((a) => [a.tier, a.ok, a.reason])).toEqual([
      ['perf', false, 'perf is not installed'],
      ['bpftrace', true, 'recorded 20 samples, 2 lost or cut'],
    ]);
    expect(c.samples[0]).toMatchObject({ pid: 27793, major: true });
    expect(c.samples[0]!.time).toBeCloseTo(1175.711726, 6);
  });

  it('none tier: /proc evidence only, maps of both pids (shmem zoo included)', () => {
    const c = parseCapture(fixture('playbook-capture-none-pid.txt'), NONCE);
    expect(c).toMatchObject({ tier: 'none', requested: 'none', samples: [], lost: 0 });
    expect(c.attempts).toEqual([{ tier: 'none', ok: true, reason: 'tier none requested: /proc evidence only' }]);
    expect(Object.keys(c.procs).sort()).toEqual(['27793', '28118']);
    const zoo = c.procs['28118']!.maps.map((m) => m.path);
    expect(zoo).toEqual(expect.arrayContaining(['/dev/shm/pft-fixture-shm', '/memfd:pft-memfd (deleted)', '/SYSV00000000 (deleted)', '/dev/zero (deleted)', '[heap]', '[stack]', '']));
  });

  it('auto falls back tier by tier and says why (real run as nobody)', () => {
    const c = parseCapture(fixture('playbook-capture-fallback-nobody.txt'), NONCE);
    expect(c.tier).toBe('none');
    expect(c.attempts).toEqual([
      {
        tier: 'perf',
        ok: false,
        reason: 'perf refused (kernel.perf_event_paranoid is 2; needs root or CAP_PERFMON): Access to performance monitoring and observability operations is limited.',
      },
      { tier: 'bpftrace', ok: false, reason: 'bpftrace is not installed' },
      { tier: 'tracepoint', ok: false, reason: 'perf failed (exit 129): No permissions to read /sys/kernel/tracing/events/exceptions/page_fault_user' },
      { tier: 'none', ok: true, reason: 'no tracer: /proc evidence only' },
    ]);
    // As nobody the root process's maps are unreadable: the details say so by being empty.
    expect(c.procs['27793']).toMatchObject({ comm: 'preader', maps: [] });
    expect(tracerUnavailable(c)).toBeNull();
  });

  it('a forced tier that is unavailable becomes tracer_unavailable', () => {
    const c = parseCapture(fixture('playbook-capture-bpftrace-forced.txt'), NONCE);
    expect(c).toMatchObject({ tier: 'none', requested: 'bpftrace', seconds: 0, samples: [] });
    const err = tracerUnavailable(c);
    expect(err?.code).toBe('tracer_unavailable');
    expect(err?.message).toMatch(/bpftrace.*not installed/);
  });

  it('a real bpftrace that cannot attach: its first ERROR is the reason', () => {
    const c = parseCapture(fixture('playbook-capture-bpftrace-fails.txt'), NONCE);
    expect(c).toMatchObject({ tier: 'none', requested: 'bpftrace', samples: [] });
    expect(c.attempts).toEqual([{ tier: 'bpftrace', ok: false, reason: expect.stringMatching(/^bpftrace failed \(exit 255\): Unknown error -1: couldn't set RLIMIT_MEMLOCK/) }]);
    expect(tracerUnavailable(c)?.code).toBe('tracer_unavailable');
    // The process details are still read (after the failed attempt).
    expect(c.procs[Object.keys(c.procs)[0]!]?.comm).toBe('preader');
  });

  it('empty capture (quiet): a perf window with no samples', () => {
    const c = parseCapture(fixture('playbook-capture-quiet.txt'), NONCE);
    expect(c).toMatchObject({ tier: 'perf', samples: [], lost: 0 });
    expect(c.attempts[0]?.reason).toBe('recorded 0 samples');
  });

  it('a pid gone before the capture: recorded, system-wide target', () => {
    const c = parseCapture(fixture('playbook-capture-gone-pid.txt'), NONCE);
    expect(c).toMatchObject({ pidsGone: [4000000], target: 'all', procs: {} });
  });

  it('adds the lines the node cut beyond its cap to lost', () => {
    const out = fixture('playbook-capture-perf-pid.txt').replace(/samples tier=perf format=perf-script total=(\d+)/, (_, n: string) => `samples tier=perf format=perf-script total=${Number(n) + 1000}`);
    const c = parseCapture(out, NONCE);
    expect(c.lost).toBe(1000);
  });

  it('a process that exited before its details were read is left out', () => {
    const out = fixture('playbook-capture-quiet.txt').replace(/proc pid=(\d+) when=during alive=1/, 'proc pid=$1 when=during alive=0')
      .replace(/@@pft:0123456789abcdef (pstat|cmdline|status|user|cgroup|maps) pid=\d+\n(?:(?!@@pft)[^\n]*\n)*/g, '');
    expect(parseCapture(out, NONCE).procs).toEqual({});
  });

  it('rejects cut or inconsistent output', () => {
    const full = fixture('playbook-capture-perf-pid.txt');
    expect(parseError(() => parseCapture(full.slice(0, full.length / 2), NONCE)).message).toMatch(/truncated/);
    const noEnd = full.replace(/@@pft:0123456789abcdef samples-end tier=perf\n/, '');
    expect(parseError(() => parseCapture(noEnd, NONCE)).message).toMatch(/samples-end/);
    const badLine = full.replace(/(samples tier=perf[^\n]*\n)/, '$1garbage line\n');
    expect(parseError(() => parseCapture(badLine, NONCE)).message).toMatch(/samples \(line \d+\) line 1/);
    const badMaps = full.replace(/(maps pid=27793\n)/, '$1not a maps line\n');
    expect(parseError(() => parseCapture(badMaps, NONCE)).message).toMatch(/maps of pid 27793 line 1/);
    const unprefixed = full.replace('|./preader', './preader');
    expect(parseError(() => parseCapture(unprefixed, NONCE)).message).toMatch(/"\|" prefix/);
  });

  it('free text cannot forge a section: cmdline/cgroup lines are prefixed, so a marker inside stays text', () => {
    const forged = fixture('playbook-capture-perf-pid.txt').replace('|./preader /var/tmp', `|${M} end step=capture status=ok /var/tmp`);
    const c = parseCapture(forged, NONCE);
    expect(c.procs['27793']!.cmdline).toContain(`${M} end step=capture`);
    expect(c.samples.length).toBeGreaterThan(200);
  });
});
