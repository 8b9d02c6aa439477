import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRank } from '../../../src/playbook/parse.js';
import { parseStat, parseStatDump, splitHeadDump } from '../../../src/playbook/stat.js';
import { cutFields, fixture, NONCE, parseError } from './helpers.js';

describe('parseStat', () => {
  it('reads pid, comm, state, ppid, minflt and majflt', () => {
    const rec = '8049 (reader) R 1 8040 6476 0 -1 4194304 122 0 6219251 0 390 10812 0 0 20 0 1 0 55157';
    expect(parseStat(rec)).toEqual({ pid: 8049, comm: 'reader', state: 'R', ppid: 1, minflt: 122, majflt: 6219251 });
  });

  it('splits comm at the last ")"', () => {
    const rec = '5 (a) b (c)) ) S 2 0 0 0 -1 0 7 0 9 0';
    expect(parseStat(rec)).toMatchObject({ pid: 5, comm: 'a) b (c)) ', state: 'S', ppid: 2, minflt: 7, majflt: 9 });
  });

  it('rejects records without comm, with too few fields, or with junk numbers', () => {
    expect(parseError(() => parseStat('5 reader S 1')).code).toBe('parse_failed');
    expect(parseError(() => parseStat('5 (x) S 1 2 3')).message).toMatch(/only 4 fields/);
    expect(parseError(() => parseStat('5 (x) S 1 0 0 0 -1 0 7 0 nine')).message).toMatch(/majflt/);
    expect(parseError(() => parseStat('x5 (x) S 1 0 0 0 -1 0 7 0 9')).message).toMatch(/bad pid/);
  });
});

describe('stat dumps (head -v)', () => {
  it('parses the real dump of processes with comms "a) b\\nc" and "(@@pft:\\n==> ))"', () => {
    const procs = parseStatDump(fixture('proc-stat-weird-comm.txt'));
    expect(procs.map((p) => p.comm)).toEqual(['a) b\nc', '(@@pft:\n==> ))', 'preader']);
    expect(procs[0]).toMatchObject({ pid: 28116, state: 'S', ppid: 27792, minflt: 89, majflt: 0 });
    expect(procs[2]).toMatchObject({ pid: 27793, majflt: 1517 });
  });

  it('parses the same dump cut to 28 fields per line', () => {
    const full = parseStatDump(fixture('proc-stat-weird-comm.txt'));
    expect(parseStatDump(cutFields(fixture('proc-stat-weird-comm.txt')))).toEqual(full);
  });

  it('skips a process that vanished between listing and reading', () => {
    // GNU head and busybox print nothing (not even the header) for a file they cannot open, and the header
    // with no text for one that vanished while being read; the error goes to stderr.
    const dump = '==> /proc/1/stat <==\n1 (init) S 0 1 1 0 -1 0 5 0 2 0\n\n==> /proc/7/stat <==\n\n==> /proc/9/stat <==\n9 (x) S 1 1 1 0 -1 0 1 0 0 0\n';
    expect(parseStatDump(dump).map((p) => p.pid)).toEqual([1, 9]);
    expect(parseStatDump('')).toEqual([]);
  });

  it('only splits on headers of the expected files', () => {
    const dump = '==> /proc/3/stat <==\n3 (\n==> x <==\n) S 1 1 1 0 -1 0 1 0 4 0\n';
    expect(splitHeadDump(dump, /^\/proc\/\d+\/stat$/)).toHaveLength(1);
    expect(parseStatDump(dump)[0]).toMatchObject({ comm: '\n==> x <==\n', majflt: 4 });
  });

  it('rejects a record filed under another pid and text before the first header', () => {
    expect(parseError(() => parseStatDump('==> /proc/3/stat <==\n4 (x) S 1 1 1 0 -1 0 1 0 4 0\n')).message).toMatch(/pid 4/);
    expect(parseError(() => parseStatDump('junk\n==> /proc/3/stat <==\n3 (x) S 1 1 1 0 -1 0 1 0 4 0\n')).code).toBe('parse_failed');
  });
});

// ---- property: any comm a process can set survives the rank pipeline ---------------------------------------

const FRAGMENTS = [' ', '(', ')', '\n', '==>', ' <==', '@@pft:', `@@pft:${NONCE.slice(0, 8)}`, '/proc/1/stat', 'a', 'Z', '9', '-', ':',
  'é', 'ß', '日本', '🙂', '\t', '|', '!', '=', 'end'];
const enc = new TextEncoder();
/** A comm as the kernel keeps it: 1..15 bytes, no NUL. */
const commArb = fc
  .array(fc.constantFrom(...FRAGMENTS), { minLength: 1, maxLength: 15 })
  .map((parts) => parts.join(''))
  .filter((s) => enc.encode(s).length <= 15);

function statRecord(pid: number, comm: string, minflt: number, majflt: number): string {
  // Fields after comm as the kernel prints them (52 in all on 6.x).
  const tail = [1, pid, pid, 0, -1, 4194304, minflt, 0, majflt, 0, 3, 4, 0, 0, 20, 0, 1, 0, 5000, 2654208, 394,
    '18446744073709551615', 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 17, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  return `${pid} (${comm}) S ${tail.join(' ')}\n`;
}

/** The real rank fixture with a record for `pid` spliced into its first snapshot (after the header of pid 1). */
function rankWith(record: string, pid: number, cut: boolean): string {
  const out = fixture('playbook-rank.txt');
  const at = out.indexOf('==> /proc/10/stat <==');
  expect(at).toBeGreaterThan(0);
  const body = cut ? cutFields(record) : record;
  return `${out.slice(0, at)}==> /proc/${pid}/stat <==\n${body}\n${out.slice(at)}`;
}

describe('property: hostile comms', () => {
  const baseline = parseRank(fixture('playbook-rank.txt'), NONCE);

  it('parseStat returns the exact comm and majflt', () => {
    fc.assert(
      fc.property(commArb, fc.integer({ min: 1, max: 4_000_000 }), fc.nat(), fc.nat(), (comm, pid, minflt, majflt) => {
        const st = parseStat(statRecord(pid, comm, minflt, majflt).replace(/\n$/, ''));
        expect(st).toEqual({ pid, comm, state: 'S', ppid: 1, minflt, majflt });
      }),
      { numRuns: 500 },
    );
  });

  it('parseRank returns the exact comm and majflt, cut to 28 fields or not', () => {
    fc.assert(
      fc.property(commArb, fc.nat({ max: 2 ** 40 }), fc.boolean(), (comm, majflt, cut) => {
        const pid = 4_000_001; // above any real pid of the fixture
        const facts = parseRank(rankWith(statRecord(pid, comm, 77, majflt), pid, cut), NONCE);
        const p = facts.snapshots[0]?.procs.find((x) => x.pid === pid);
        expect(p).toEqual({ pid, comm, state: 'S', ppid: 1, minflt: 77, majflt });
        // Nothing else moved: every other process of the snapshot is intact.
        expect(facts.snapshots[0]?.procs.filter((x) => x.pid !== pid)).toEqual(baseline.snapshots[0]?.procs);
      }),
      { numRuns: 200 },
    );
  });
});
