/**
 * Shared by the runner tests: the stand-in playbook, prerequisites (a missing one fails the test
 * with the Debian package to install, nothing is skipped) and process checks on this machine.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';

/** A tiny stand-in for src/playbook/playbook.sh: each step proves one thing about the runner. */
export const STAND_IN_SCRIPT = `# pagefault-triage stand-in playbook (tests only)
main() {
  case $1 in
    hello)  printf 'hello %s uid=%s sum=%s\\n' "$2" "$(id -u)" "$((6 * 7))"; echo 'to stderr' >&2; return 3 ;;
    marker) : > "/tmp/pft-marker-$2"; echo marked ;;
    flood)  head -c "$2" /dev/zero; echo 'flood done' >&2 ;;
    wait)   sh -c 'while :; do sleep 1; done' "pft-wait-$2" ;;
    escape) setsid sh -c 'sleep 30' "pft-escape-$2" & echo escaped ;;
    *)      echo "unknown step $1" >&2; return 2 ;;
  esac
}
main "$@" </dev/null
`;

/** The stand-in behind ~300 KB of comment lines: more than any pipe or SSH window holds at once. */
export const BIG_SCRIPT = `${'# padding padding padding padding padding padding padding padding padding\n'.repeat(4000)}${STAND_IN_SCRIPT}`;

export function nonce(): string {
  return randomBytes(6).toString('hex');
}

const PACKAGES: Record<string, string> = {
  sudo: 'sudo',
  visudo: 'sudo',
  pgrep: 'procps',
  pkill: 'procps',
  setsid: 'util-linux',
  timeout: 'coreutils',
  useradd: 'passwd',
  userdel: 'passwd',
  usermod: 'passwd',
  'ssh-keygen': 'openssh-client',
};

export function requireCommands(...names: (keyof typeof PACKAGES)[]): void {
  const missing = names.filter((n) => spawnSync('sh', ['-c', `command -v ${n}`], { stdio: 'ignore' }).status !== 0);
  if (missing.length) {
    const pkgs = [...new Set(missing.map((m) => PACKAGES[m]))].join(' ');
    throw new Error(`missing ${missing.join(', ')}: install the Debian package(s) ${pkgs} (apt-get install -y ${pkgs})`);
  }
}

/** pids whose command line contains `pattern` (pgrep -f), this test process excluded. */
export function pgrep(pattern: string): number[] {
  const r = spawnSync('pgrep', ['-f', '--', pattern], { encoding: 'utf8' });
  if (r.status !== 0 && r.status !== 1) throw new Error(`pgrep failed: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((p) => p !== process.pid);
}

export function pkill(pattern: string): void {
  spawnSync('pkill', ['-KILL', '-f', '--', pattern]);
}

export async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - start;
}

export function markerPath(id: string): string {
  return `/tmp/pft-marker-${id}`;
}

export function removeMarker(id: string): void {
  if (existsSync(markerPath(id))) rmSync(markerPath(id));
}

/** A throwaway login for the sudo tests. `*` (not `!`): sshd without PAM refuses locked accounts. */
export function ensureUser(name: string, shell = '/bin/sh'): void {
  if (spawnSync('id', ['-u', name], { stdio: 'ignore' }).status === 0) return;
  execFileSync('useradd', ['--no-create-home', '--home-dir', '/nonexistent', '--shell', shell, name]);
  execFileSync('usermod', ['-p', '*', name]);
}

export function removeUser(name: string): void {
  spawnSync('userdel', [name], { stdio: 'ignore' });
}
