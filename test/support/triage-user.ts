/**
 * A node set up the way SECURITY.md tells an operator to: `scripts/setup-node.sh` creates a login user (shell
 * /bin/sh), authorizes a fresh bot key for it (`restrict`, from 127.0.0.1), installs the playbook root-owned and
 * adds the one sudoers rule. Start an sshd with `sshdOptions` to let that user in, and configure the node with
 * `ssh.user`, `ssh.sudo: true`, `ssh.playbook: installed`. For tests and benchmarks of the least-privilege setup.
 *
 * Needs root, sudo, visudo, useradd/usermod/userdel and ssh-keygen; a missing one throws and says which. It will
 * not touch a real installation: when the install directory exists and this user is not a leftover of ours, it
 * throws. Only one may be installed at a time (one install directory on the machine).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { INSTALL_DIR } from '../../src/remote/command.js';
import { requireCommands } from '../remote/helpers.js';
import { generateClientKey, type ClientKey, type SshdOptions } from './sshd.js';

export const SETUP_NODE = join(packageRoot, 'scripts', 'setup-node.sh');

export interface TriageUser {
  user: string;
  /** The user's home (inside a temp dir): `.ssh/authorized_keys` is here. */
  home: string;
  /** The bot's key pair, authorized for the user. */
  key: ClientKey;
  /** What startSshd needs to let the user in with that key. */
  sshdOptions: Pick<SshdOptions, 'clientKey' | 'extraConfig'>;
  /** `setup-node.sh --uninstall` and the temp dir. Idempotent. */
  remove(): void;
}

export function sudoersFile(user: string): string {
  return `/etc/sudoers.d/pagefault-triage-${user}`;
}

function uninstall(user: string): void {
  spawnSync('sh', [SETUP_NODE, '--uninstall', '--user', user], { stdio: 'pipe' });
}

export function installTriageUser(user: string): TriageUser {
  requireCommands('sudo', 'visudo', 'useradd', 'usermod', 'userdel', 'ssh-keygen');
  // A run that crashed before removing its user leaves that user and rule behind: clear those. Anything else in
  // the install dir is a real installation, which must not be touched.
  if (existsSync(sudoersFile(user)) || spawnSync('id', ['-u', user], { stdio: 'ignore' }).status === 0) uninstall(user);
  if (existsSync(INSTALL_DIR)) throw new Error(`${INSTALL_DIR} exists already: not touching a real installation`);
  const dir = mkdtempSync(join(tmpdir(), 'pft-test-lp-'));
  chmodSync(dir, 0o755); // the user's home is in here, and sshd reads authorized_keys as the user
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    uninstall(user);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const key = generateClientKey(dir);
    const home = join(dir, 'home');
    execFileSync('sh', [SETUP_NODE, '--user', user, '--pubkey', key.publicKeyPath, '--from', '127.0.0.1', '--home', home], { stdio: 'pipe' });
    return { user, home, key, sshdOptions: { clientKey: key, extraConfig: [`Match User ${user}`, '  AuthorizedKeysFile .ssh/authorized_keys'] }, remove };
  } catch (e) {
    remove();
    throw e;
  }
}
