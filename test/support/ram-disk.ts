/**
 * A small ext4 filesystem in memory, for file-backed major faults faster than a real disk delivers them.
 *
 * A page the file reader drops from the page cache of this filesystem is read back from memory: still a real
 * major fault (filemap_fault, pgmajfault, the perf major-faults event), at tens of thousands per second instead of
 * what the disk allows. Two ways, the faster first:
 * - a zram block device of its own (`/sys/class/zram-control/hot_add`): the read is done in the faulting thread,
 *   no worker thread in between; over 60,000 major faults/s from one reader on this 2-core machine;
 * - else an image file in /dev/shm (tmpfs) on a loop device with direct I/O; about 25,000/s here, since every read
 *   waits for the loop device's worker.
 * Needs root, mkfs.ext4 (e2fsprogs) and mount/umount (mount), plus losetup (util-linux) for the loop device; a
 * missing one throws and says which.
 *
 * Names start with `pft-ramdisk-<pid>-` (not the generators' pft-test- prefix, whose sweep would try to delete a
 * mounted directory); a marker in /dev/shm names the zram device or is the loop image, so a disk left by a killed
 * test process is unmounted and removed by the next createRamDisk.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const PREFIX = 'pft-ramdisk-';
const SHM = '/dev/shm';
const ZRAM_CONTROL = '/sys/class/zram-control';

export interface RamDisk {
  /** Where the filesystem is mounted: put data files here. */
  dir: string;
  /** The loop device, e.g. /dev/loop3. */
  device: string;
  /** How the disk is backed, for logs: "zram (lzo-rle)", "loop on tmpfs, direct I/O". */
  backing: string;
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

function writeSys(file: string, value: string): void {
  try {
    fs.writeFileSync(file, value);
  } catch {
    /* best effort */
  }
}

/** Frees the zram device a `.zram` marker names, then the marker. */
function removeZram(marker: string): void {
  let id = '';
  try {
    id = fs.readFileSync(marker, 'utf8').trim();
  } catch {
    return;
  }
  if (/^\d+$/.test(id)) {
    writeSys(`/sys/block/zram${id}/reset`, '1');
    writeSys(`${ZRAM_CONTROL}/hot_remove`, id);
  }
  fs.rmSync(marker, { force: true });
}

function teardown(dir: string, marker: string): void {
  if (fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir)) tryRun('umount', [dir]);
  if (marker.endsWith('.zram')) removeZram(marker);
  for (const d of marker.endsWith('.img') ? devicesOf(marker) : []) tryRun('losetup', ['-d', d]);
  fs.rmSync(marker, { force: true });
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
    const zram = path.join(SHM, `${n}.zram`);
    teardown(path.join(os.tmpdir(), n), fs.existsSync(zram) ? zram : path.join(SHM, `${n}.img`));
    removed.push(n);
  }
  for (const n of fs.existsSync(SHM) ? fs.readdirSync(SHM) : []) {
    const ext = path.extname(n);
    if (!n.startsWith(PREFIX) || (ext !== '.img' && ext !== '.zram') || !ownerDead(n)) continue;
    teardown(path.join(os.tmpdir(), n.slice(0, -ext.length)), path.join(SHM, n));
    removed.push(n);
  }
  return removed;
}

const live = new Set<RamDisk>();

/** A zram device of our own, sized and named by the marker; null when this kernel has no zram hot_add. */
function zramDevice(marker: string, sizeMb: number): { device: string; backing: string } | null {
  if (!fs.existsSync(`${ZRAM_CONTROL}/hot_add`)) return null;
  let id: string;
  try {
    id = fs.readFileSync(`${ZRAM_CONTROL}/hot_add`, 'utf8').trim();
  } catch {
    return null; // no free device number, or zram refuses: the loop device still works
  }
  fs.writeFileSync(marker, id);
  fs.writeFileSync(`/sys/block/zram${id}/disksize`, `${sizeMb}M`);
  const device = `/dev/zram${id}`;
  // devtmpfs creates the node as the device appears; give it a moment on a busy machine.
  for (let i = 0; i < 50 && !fs.existsSync(device); i++) execFileSync('sleep', ['0.02']);
  if (!fs.existsSync(device)) throw new Error(`ram disk: ${device} did not appear after zram hot_add`);
  const algo = /\[([^\]]+)\]/.exec(fs.readFileSync(`/sys/block/zram${id}/comp_algorithm`, 'utf8'))?.[1] ?? 'unknown';
  return { device, backing: `zram (${algo})` };
}

/** A loop device over a tmpfs image file (the marker). */
function loopDevice(image: string, sizeMb: number): { device: string; backing: string } {
  fs.writeFileSync(image, '');
  fs.truncateSync(image, sizeMb * 1024 * 1024);
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
  return { device, backing: `loop on tmpfs${directIo ? ', direct I/O' : ', buffered'}` };
}

/** `prefer: 'loop'` skips zram (to compare the two). */
export function createRamDisk(sizeMb = 160, prefer: 'zram' | 'loop' = 'zram'): RamDisk {
  if (process.getuid?.() !== 0) throw new Error(`ram disk: needs root (zram or losetup, mount), this process runs as uid ${process.getuid?.()}`);
  if (!fs.existsSync(SHM)) throw new Error(`ram disk: ${SHM} (tmpfs) is missing`);
  sweepStaleRamDisks();
  const name = `${PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`;
  const dir = path.join(os.tmpdir(), name);
  let marker = path.join(SHM, `${name}.zram`);
  try {
    fs.mkdirSync(dir);
    let dev = prefer === 'zram' ? zramDevice(marker, sizeMb) : null;
    if (!dev) {
      marker = path.join(SHM, `${name}.img`);
      dev = loopDevice(marker, sizeMb);
    }
    run('mkfs.ext4', ['-q', '-F', dev.device]);
    run('mount', [dev.device, dir]);
    let removed = false;
    const disk: RamDisk = {
      dir,
      device: dev.device,
      backing: dev.backing,
      remove() {
        if (removed) return;
        removed = true;
        live.delete(disk);
        teardown(dir, marker);
      },
    };
    live.add(disk);
    return disk;
  } catch (e) {
    teardown(dir, marker);
    throw e;
  }
}

process.on('exit', () => {
  for (const d of [...live]) d.remove();
});
