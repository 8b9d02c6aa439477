// Real major faults on the shared kernel: every test here runs sequentially and leaves nothing behind.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  GENERATOR_COMMS,
  SWAP_FILE,
  assertNoStrayGenerators,
  buildGenerators,
  cgroupsOf,
  cleanupStaleTestState,
  isAlive,
  leftovers,
  majfltOf,
  parseProcStat,
  readVmstat,
  startAnonThrash,
  startCodeReread,
  startFileReader,
  startShmThrash,
  stopAllGenerators,
  swapIsActive,
  waitForMajorFaults,
  waitGone,
  type Generator,
} from '../support/generators.js';
import { createRamDisk, sweepStaleRamDisks } from '../support/ram-disk.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function mapsOf(pid: number): string {
  return fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
}

function swapUsersOtherThanMe(): number[] {
  try {
    return fs
      .readdirSync(`${SWAP_FILE}.users`)
      .map(Number)
      .filter((p) => p !== process.pid && fs.existsSync(`/proc/${p}`));
  } catch {
    return [];
  }
}

/** After stop(): the process, its files, its cgroup dirs and (if nobody else uses it) the swap are gone. */
function expectCleanAfter(gen: Generator): void {
  expect(isAlive(gen.pid)).toBe(false);
  expect(fs.existsSync(`/proc/${gen.pid}`)).toBe(false);
  if (gen.path) expect(fs.existsSync(gen.path)).toBe(false);
  for (const d of gen.cgroup?.dirs ?? []) expect(fs.existsSync(d)).toBe(false);
  const left = leftovers();
  expect(left.processes).toEqual([]);
  expect(left.cgroups).toEqual([]);
  expect(left.shmFiles).toEqual([]);
  if (swapUsersOtherThanMe().length === 0) {
    expect(left.swapActive).toBe(false);
    expect(fs.existsSync(SWAP_FILE)).toBe(false);
  }
}

async function pswpinRising(ms = 1000): Promise<number> {
  const a = readVmstat().pswpin ?? 0;
  await new Promise((r) => setTimeout(r, ms));
  const b = readVmstat().pswpin ?? 0;
  return ((b - a) * 1000) / ms;
}

/** Run a script in a child node process that imports the generators module; returns its stdout. */
function runChild(script: string, opts: { expectKilled?: boolean } = {}): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (opts.expectKilled) expect(r.signal).toBe('SIGKILL');
  else expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('fault generators', () => {
  beforeAll(() => {
    const swept = cleanupStaleTestState();
    if (swept.cgroups.length || swept.files.length || swept.swapOff) console.log('[cleanup] stale state removed:', swept);
  });
  beforeEach(() => {
    assertNoStrayGenerators();
  });
  afterEach(async () => {
    await stopAllGenerators();
  });
  afterAll(async () => {
    await stopAllGenerators();
    assertNoStrayGenerators();
  });

  it('parses /proc/PID/stat at the last ")"', () => {
    const st = parseProcStat('4242 (evil) S 1 (x)) R 77 1 1 0 -1 4194560 11 0 99 5 0 0 0 0 20 0 1 0 1 1 1');
    expect(st).toMatchObject({ pid: 4242, comm: 'evil) S 1 (x)', state: 'R', ppid: 77, minflt: 11, majflt: 99, cmajflt: 5 });
    expect(majfltOf(process.pid)).toBeGreaterThanOrEqual(0);
  });

  it('compiles every generator with -Wall -Wextra -Werror into the cache', () => {
    const bins = buildGenerators();
    for (const [kind, comm] of Object.entries(GENERATOR_COMMS)) {
      const bin = bins[kind as keyof typeof GENERATOR_COMMS];
      expect(path.basename(bin)).toBe(comm);
      expect(comm.length).toBeLessThanOrEqual(15);
      fs.accessSync(bin, fs.constants.X_OK);
    }
  });

  it('file reader: MAP_SHARED read-only file mapping major-faults > 50/s', async () => {
    const gen = await startFileReader({ sizeMb: 64 });
    expect(fs.readFileSync(`/proc/${gen.pid}/comm`, 'utf8').trim()).toBe('pft-filereader');
    expect(gen.path.startsWith(gen.dir)).toBe(true);
    expect(path.basename(gen.dir)).toMatch(/^pft-test-/);
    expect(mapsOf(gen.pid)).toMatch(new RegExp(`r--s 00000000 \\S+ \\d+ +${gen.path}$`, 'm'));
    const rate = await waitForMajorFaults(gen.pid, 50);
    console.log(`[rate] file reader: ${rate.toFixed(0)} major faults/s`);
    expect(rate).toBeGreaterThan(50);
    await gen.stop();
    expectCleanAfter(gen);
    expect(fs.existsSync(gen.dir)).toBe(false);
  });

  it('code reread: executable private file mapping major-faults > 50/s', async () => {
    const gen = await startCodeReread({ sizeMb: 64 });
    expect(fs.readFileSync(`/proc/${gen.pid}/comm`, 'utf8').trim()).toBe('pft-codereread');
    const lines = mapsOf(gen.pid)
      .split('\n')
      .filter((l) => l.endsWith(gen.path));
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) expect(l.split(/\s+/)[1]).toBe('r-xp');
    const rate = await waitForMajorFaults(gen.pid, 50);
    console.log(`[rate] code reread: ${rate.toFixed(0)} major faults/s over ${lines.length} r-xp VMAs`);
    expect(rate).toBeGreaterThan(50);
    await gen.stop();
    expectCleanAfter(gen);
  });

  it('anon thrash under a memory cgroup limit swaps in: > 200 majflt/s, pswpin rising', async () => {
    const t0 = performance.now();
    const gen = await startAnonThrash({ mb: 256, limitMb: 64 });
    console.log(`[time] anon thrash start (swap + cgroup + touch 256 MB): ${(performance.now() - t0).toFixed(0)} ms`);
    expect(swapIsActive()).toBe(true);
    const cg = gen.cgroup;
    expect(cg.path).toMatch(/^\/pft-test-\d+-[0-9a-f]+$/);
    const memLine = cgroupsOf(gen.pid).find((c) => c.controllers.split(',').includes('memory'));
    if (cg.version === 1) {
      expect(memLine?.path).toBe(cg.path);
      expect(Number(fs.readFileSync(path.join(cg.memoryDir, 'memory.limit_in_bytes'), 'utf8'))).toBe(64 * 1024 * 1024);
    } else {
      expect(cgroupsOf(gen.pid).find((c) => c.id === '0')?.path).toBe(cg.path);
    }
    const rate = await waitForMajorFaults(gen.pid, 200);
    const swapin = await pswpinRising();
    console.log(`[rate] anon thrash: ${rate.toFixed(0)} major faults/s, pswpin +${swapin.toFixed(0)}/s`);
    expect(rate).toBeGreaterThan(200);
    expect(swapin).toBeGreaterThan(0);
    const t1 = performance.now();
    await gen.stop();
    console.log(`[time] anon thrash stop (kill + rmdir + swapoff): ${(performance.now() - t1).toFixed(0)} ms`);
    expectCleanAfter(gen);
  });

  it('shm thrash: /dev/shm mapping under a memory limit swaps in: > 200 majflt/s, pswpin rising', async () => {
    const gen = await startShmThrash({ mb: 256, limitMb: 64 });
    expect(gen.path).toMatch(/^\/dev\/shm\/pft-test-/);
    expect(fs.existsSync(gen.path)).toBe(true);
    expect(mapsOf(gen.pid)).toMatch(new RegExp(`rw-s 00000000 \\S+ \\d+ +${gen.path}$`, 'm'));
    const rate = await waitForMajorFaults(gen.pid, 200);
    const swapin = await pswpinRising();
    console.log(`[rate] shm thrash: ${rate.toFixed(0)} major faults/s, pswpin +${swapin.toFixed(0)}/s`);
    expect(rate).toBeGreaterThan(200);
    expect(swapin).toBeGreaterThan(0);
    await gen.stop();
    expectCleanAfter(gen);
  });

  it('runs inside a named systemd-unit cgroup and removes only what it created', async () => {
    const unit = 'system.slice/pft-demo.service';
    const memRoot = '/sys/fs/cgroup/memory';
    const sliceExisted = fs.existsSync(path.join(memRoot, 'system.slice'));
    const gen = await startAnonThrash({ mb: 128, limitMb: 32, cgroupName: unit });
    expect(gen.cgroup.path).toBe(`/${unit}`);
    const lines = cgroupsOf(gen.pid);
    const mem = lines.find((c) => c.controllers.split(',').includes('memory'));
    expect(mem?.path).toBe(`/${unit}`);
    if (gen.cgroup.version === 1) {
      // Mirrored where a systemd host shows the unit too.
      const sd = lines.find((c) => c.controllers === 'name=systemd');
      if (sd) expect(sd.path).toBe(`/${unit}`);
      const v2 = lines.find((c) => c.id === '0');
      if (v2) expect(v2.path).toBe(`/${unit}`);
    }
    await waitForMajorFaults(gen.pid, 200);
    await gen.stop();
    expectCleanAfter(gen);
    expect(fs.existsSync(path.join(memRoot, 'system.slice'))).toBe(sliceExisted);
  });

  it('runs a file reader inside a kubepods container cgroup', async () => {
    const podUid = randomUUID();
    const containerId = randomBytes(32).toString('hex');
    const name = `kubepods/pod${podUid}/${containerId}`;
    const gen = await startFileReader({ sizeMb: 32, cgroupName: name });
    const mem = cgroupsOf(gen.pid).find((c) => c.controllers.split(',').includes('memory'));
    expect(mem?.path).toBe(`/${name}`);
    await waitForMajorFaults(gen.pid, 50);
    await gen.stop();
    expectCleanAfter(gen);
    expect(fs.existsSync('/sys/fs/cgroup/memory/kubepods')).toBe(false);
  });

  it('shares one swap file between generators; the last stop swaps it off', async () => {
    const a = await startAnonThrash({ mb: 128, limitMb: 32 });
    const b = await startShmThrash({ mb: 128, limitMb: 32 });
    expect(swapIsActive()).toBe(true);
    expect(fs.readFileSync('/proc/swaps', 'utf8').split('\n').filter((l) => l.startsWith(SWAP_FILE))).toHaveLength(1);
    assertNoStrayGenerators({ except: [a.pid, b.pid] });
    expect(() => assertNoStrayGenerators({ except: [a.pid] })).toThrow(/pft-shmthrash pid \d+/);
    await a.stop();
    expect(isAlive(a.pid)).toBe(false);
    expect(swapIsActive()).toBe(true);
    expect(isAlive(b.pid)).toBe(true);
    await b.stop();
    expectCleanAfter(b);
  });

  it('stopAllGenerators stops everything and waitGone confirms', async () => {
    const a = await startFileReader({ sizeMb: 16 });
    const b = await startAnonThrash({ mb: 96, limitMb: 32 });
    expect(() => assertNoStrayGenerators()).toThrow(/started by this process, not stopped/);
    await stopAllGenerators();
    await waitGone(a.pid, 1000);
    await waitGone(b.pid, 1000);
    expectCleanAfter(b);
  });

  it('waitForMajorFaults fails with a clear error when the rate is not reached', async () => {
    const gen = await startFileReader({ sizeMb: 8, pagesPerSec: 10 });
    await expect(waitForMajorFaults(gen.pid, 100_000, { timeoutMs: 1500, windowMs: 500 })).rejects.toThrow(
      /pid \d+ \(pft-filereader\) did not reach 100000 major faults\/s within 1500 ms \(best \d+\/s/,
    );
    await gen.stop();
    await expect(waitForMajorFaults(gen.pid, 1, { timeoutMs: 1000 })).rejects.toThrow(/is gone/);
  });

  it('paces reads with pagesPerSec', async () => {
    const gen = await startFileReader({ sizeMb: 32, pagesPerSec: 600 });
    const rate = await waitForMajorFaults(gen.pid, 400, { windowMs: 2000 });
    expect(rate).toBeLessThan(800);
    await gen.stop();
  });

  it('cleans up after a test process that exits without stopping, or is killed', async () => {
    const start =
      "const m = await import('./test/support/generators.ts');" +
      "const a = await m.startAnonThrash({ mb: 96, limitMb: 32, cgroupName: 'system.slice/pft-crash.service' });" +
      'const b = await m.startFileReader({ sizeMb: 8 });' +
      'console.log(JSON.stringify({ pids: [a.pid, b.pid], dirs: a.cgroup.dirs, dataDir: b.dir }));';
    // 1. process.exit() without stop(): the exit hook kills, removes the cgroup and the swap.
    const exited = JSON.parse(runChild(`${start} process.exit(0);`)) as { pids: number[]; dirs: string[]; dataDir: string };
    for (const pid of exited.pids) await waitGone(pid, 5000);
    for (const d of [...exited.dirs, exited.dataDir]) expect(fs.existsSync(d)).toBe(false);
    expect(swapIsActive()).toBe(swapUsersOtherThanMe().length > 0);
    // 2. SIGKILL: the generators notice their parent is gone and exit; cleanupStaleTestState() removes the rest.
    const killed = JSON.parse(runChild(`${start} process.kill(process.pid, 'SIGKILL');`, { expectKilled: true })) as {
      pids: number[];
      dirs: string[];
      dataDir: string;
    };
    for (const pid of killed.pids) await waitGone(pid, 5000);
    expect(fs.existsSync(killed.dirs[0]!)).toBe(true);
    const swept = cleanupStaleTestState();
    expect(swept.cgroups).toEqual(expect.arrayContaining(killed.dirs));
    expect(swept.files).toContain(killed.dataDir);
    for (const d of [...killed.dirs, killed.dataDir]) expect(fs.existsSync(d)).toBe(false);
    if (swapUsersOtherThanMe().length === 0) expect(swapIsActive()).toBe(false);
  });

  it('ram disk: zram first, loop on tmpfs as the fallback; both fault fast and leave nothing behind', async () => {
    for (const prefer of ['zram', 'loop'] as const) {
      const disk = createRamDisk(64, prefer);
      try {
        expect(disk.backing).toMatch(prefer === 'zram' ? /^zram \(/ : /^loop on tmpfs/);
        const gen = await startFileReader({ dir: disk.dir, sizeMb: 16 });
        const rate = await waitForMajorFaults(gen.pid, 5000);
        console.log(`[ram disk] ${disk.backing}: ${Math.round(rate)} major faults/s`);
        await gen.stop();
      } finally {
        disk.remove();
      }
      expect(fs.readFileSync('/proc/mounts', 'utf8')).not.toContain(disk.dir);
      expect(fs.existsSync(disk.dir)).toBe(false);
      if (prefer === 'zram') expect(fs.existsSync(`/sys/block/${path.basename(disk.device)}`)).toBe(false);
      else expect(execFileSync('losetup', ['-a'], { encoding: 'utf8' })).not.toMatch(/pft-ramdisk-/);
    }
    // A test process killed with its disk mounted: the next sweep unmounts it and gives the device back.
    const killed = runChild(
      "const m = await import('./test/support/ram-disk.ts'); const d = m.createRamDisk(32);" +
        "console.log(JSON.stringify({ dir: d.dir, device: d.device })); process.kill(process.pid, 'SIGKILL');",
      { expectKilled: true },
    );
    const left = JSON.parse(killed) as { dir: string; device: string };
    expect(fs.readFileSync('/proc/mounts', 'utf8')).toContain(left.dir);
    expect(sweepStaleRamDisks()).toContain(path.basename(left.dir));
    expect(fs.readFileSync('/proc/mounts', 'utf8')).not.toContain(left.dir);
    expect(fs.existsSync(`/sys/block/${path.basename(left.device)}`)).toBe(false);
    expect(fs.readdirSync('/dev/shm').filter((n) => n.startsWith('pft-ramdisk-'))).toEqual([]);
  });

  it('names the missing prerequisite instead of skipping', async () => {
    // No C compiler: a fresh module instance, CC pointing nowhere.
    vi.resetModules();
    const saved = process.env.CC;
    process.env.CC = 'pft-no-such-cc';
    try {
      const fresh = await import('../support/generators.js');
      expect(() => fresh.buildGenerators()).toThrow(/C compiler `pft-no-such-cc` not found/);
    } finally {
      if (saved === undefined) delete process.env.CC;
      else process.env.CC = saved;
    }
    // Not root: run the module as nobody.
    const script =
      "import('./test/support/generators.ts').then(m => m.startAnonThrash()).then(() => console.log('started?!'), e => console.log(e.message))";
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, HOME: '/tmp' },
    });
    expect(out).toMatch(/needs root \(uid 0\).*uid 65534/);
  });
});
