/**
 * A small ext4 filesystem in memory, for file-backed major faults faster than a real disk delivers them.
 *
 * The image is a file in /dev/shm (tmpfs), attached to a loop device with direct I/O and mounted on a temp dir.
 * A page the file reader drops from the page cache of this filesystem is read back through the loop device from
 * tmpfs memory: still a real major fault (filemap_fault, pgmajfault, the perf major-faults event), at tens of
 * thousands per second instead of what the disk allows. Needs root, a loop device, mkfs.ext4 (e2fsprogs) and
 * mount/umount/losetup (mount, util-linux); a missing one throws and says which.
 *
 * Names start with `pft-ramdisk-<pid>-` (not the generators' pft-test- prefix, whose sweep would try to delete a
 * mounted directory); a disk left by a killed test process is unmounted and removed by the next createRamDisk.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const PREFIX = 'pft-ramdisk-';
const SHM = '/dev/shm';

export interface RamDisk {
  /** Where the filesystem is mounted: put data files here. */
  dir: string;
  /** The loop device, e.g. /dev/loop3. */
  device: string;
  /** Whether the loop device reads its image with direct I/O (false: slower, through a second page cache). */
  directIo: boolean;
  /** Unmount, detach and delete. Idempotent. */
  remove(): void;
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const o = e as { code?: string; stderr?: unknown; message?: string };
    if (o.code === 'ENOENT') throw new Error(`ram disk: command not found: ${cmd} (Debian packages mount, util-linux, e2fsprogs)`);
    const why = o.stderr ? String(o.stderr).trim() : String(o.message);
    throw new Error(`ram disk: \`${[cmd, ...args].join(' ')}\` failed: ${why}`);
  }
}

function tryRun(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    /* best effort */
  }
}

function ownerDead(name: string): boolean {
  const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
  return m !== null && Number(m[1]) !== process.pid && !fs.existsSync(`/proc/${m[1]}`);
}

/** Loop devices backed by IMAGE (`losetup -j`). */
function devicesOf(image: string): string[] {
  try {
    return execFileSync('losetup', ['-j', image], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(':')[0]!.trim())
      .filter((d) => d.startsWith('/dev/loop'));
  } catch {
    return [];
  }
}

function teardown(dir: string, image: string): void {
  if (fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir)) tryRun('umount', [dir]);
  for (const d of devicesOf(image)) tryRun('losetup', ['-d', d]);
  fs.rmSync(image, { force: true });
  try {
    fs.rmdirSync(dir);
  } catch {
    /* gone, or still mounted: the next sweep retries */
  }
}

/** Unmounts and removes ram disks of test processes that are gone. */
export function sweepStaleRamDisks(): string[] {
  const removed: string[] = [];
  for (const n of fs.readdirSync(os.tmpdir())) {
    if (!n.startsWith(PREFIX) || !ownerDead(n)) continue;
    teardown(path.join(os.tmpdir(), n), path.join(SHM, `${n}.img`));
    removed.push(n);
  }
  for (const n of fs.existsSync(SHM) ? fs.readdirSync(SHM) : []) {
    if (!n.startsWith(PREFIX) || !n.endsWith('.img') || !ownerDead(n)) continue;
    teardown(path.join(os.tmpdir(), n.slice(0, -'.img'.length)), path.join(SHM, n));
    removed.push(n);
  }
  return removed;
}

const live = new Set<RamDisk>();

export function createRamDisk(sizeMb = 160): RamDisk {
  if (process.getuid?.() !== 0) throw new Error(`ram disk: needs root (losetup, mount), this process runs as uid ${process.getuid?.()}`);
  if (!fs.existsSync(SHM)) throw new Error(`ram disk: ${SHM} (tmpfs) is missing`);
  sweepStaleRamDisks();
  const name = `${PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`;
  const image = path.join(SHM, `${name}.img`);
  const dir = path.join(os.tmpdir(), name);
  try {
    fs.writeFileSync(image, '');
    fs.truncateSync(image, sizeMb * 1024 * 1024);
    fs.mkdirSync(dir);
    // Direct I/O: the loop device reads tmpfs pages straight, without a second page cache (tmpfs has O_DIRECT
    // from Linux 6.6; older kernels refuse it and the disk works without, more slowly).
    let device: string;
    try {
      device = run('losetup', ['-f', '--show', '--direct-io=on', image]).trim();
    } catch {
      device = run('losetup', ['-f', '--show', image]).trim();
    }
    let directIo = false;
    try {
      directIo = fs.readFileSync(`/sys/block/${path.basename(device)}/loop/dio`, 'utf8').trim() === '1';
    } catch {
      /* older kernel: unknown */
    }
    run('mkfs.ext4', ['-q', '-F', device]);
    run('mount', [device, dir]);
    let removed = false;
    const disk: RamDisk = {
      dir,
      device,
      directIo,
      remove() {
        if (removed) return;
        removed = true;
        live.delete(disk);
        teardown(dir, image);
      },
    };
    live.add(disk);
    return disk;
  } catch (e) {
    teardown(dir, image);
    throw e;
  }
}

process.on('exit', () => {
  for (const d of [...live]) d.remove();
});
