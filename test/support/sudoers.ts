import { TriageError } from '../../src/errors.js';
import { INSTALLED_STEP } from '../../src/remote/command.js';

/** The sudoers rule for `ssh.playbook: installed` + `ssh.sudo: true`: the installed entry point and nothing else. */
export function sudoersRule(user: string): string {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user)) throw new TriageError('config_invalid', 'a sudoers user must be a POSIX user name');
  return `${user} ALL=(root) NOPASSWD: ${INSTALLED_STEP}`;
}
