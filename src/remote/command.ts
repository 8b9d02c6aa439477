import { TriageError } from '../errors.js';
import { SAFE_ARG } from '../playbook/steps.js';

/**
 * The one place a node command is made. Every step is
 *
 *   [sudo -n ]timeout -k 2 <seconds> sh -s -- <args…>                        (ssh.playbook: stdin, the default)
 *   [sudo -n ]/usr/local/lib/pagefault-triage/pft-step <seconds> <args…>      (ssh.playbook: installed)
 *
 * (prefixed with `exec` when it goes to a login shell over SSH). With `stdin` the playbook goes on stdin; with
 * `installed` the node runs its own root-owned copy, and pft-step runs it as `timeout -k 2 <seconds> /bin/sh
 * playbook.sh <args…>` (see SECURITY.md for why sudo should only ever see the installed form). Nothing but fixed
 * words, a validated integer and SAFE_ARG tokens goes in, so the line needs no quoting and no shell can read
 * more into it than its words.
 */

/** Seconds between the node-side `timeout`'s TERM and its KILL. */
export const KILL_AFTER_SECONDS = 2;
/** Upper bound for one step's node-side timeout (a day): beyond that a number is a mistake. */
export const MAX_STEP_SECONDS = 86_400;

/** Where scripts/setup-node.sh installs the playbook on a node, root-owned (fixed: sudoers names these paths). */
export const INSTALL_DIR = '/usr/local/lib/pagefault-triage';
/** The installed entry point: validates its arguments, then runs the installed playbook under `timeout`. */
export const INSTALLED_STEP = `${INSTALL_DIR}/pft-step`;
export const INSTALLED_PLAYBOOK = `${INSTALL_DIR}/playbook.sh`;

/** How a node gets the playbook (ssh.playbook). */
export type PlaybookDelivery = 'stdin' | 'installed';

export interface StepCommandSpec {
  args: readonly string[];
  timeoutSeconds: number;
  sudo: boolean;
  /** Default `stdin`. */
  playbook?: PlaybookDelivery;
}

export interface StepCommand {
  /** For exec without a shell (the local runner). */
  argv: readonly string[];
  /**
   * For an SSH exec request, run by the node's login shell as `$SHELL -c line`. The leading
   * `exec` makes the step (sudo or timeout) the session leader whatever that shell is (dash does
   * not exec a lone command by itself), so sshd's signal request reaches it on abort.
   */
  line: string;
}

export function buildStepCommand(spec: StepCommandSpec): StepCommand {
  const { timeoutSeconds } = spec;
  if (!Number.isSafeInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > MAX_STEP_SECONDS) {
    throw new TriageError('internal', `step timeout must be an integer from 1 to ${MAX_STEP_SECONDS} seconds, got ${describe(timeoutSeconds)}`);
  }
  spec.args.forEach((arg, i) => {
    if (typeof arg !== 'string' || !SAFE_ARG.test(arg)) {
      // Don't echo the value: it failed validation and may be anything.
      throw new TriageError('internal', `playbook argument ${i} is not a safe token (${SAFE_ARG.source})`);
    }
  });
  const sudo = spec.sudo ? ['sudo', '-n'] : [];
  const argv =
    spec.playbook === 'installed'
      ? [...sudo, INSTALLED_STEP, String(timeoutSeconds), ...spec.args]
      : [...sudo, 'timeout', '-k', String(KILL_AFTER_SECONDS), String(timeoutSeconds), 'sh', '-s', '--', ...spec.args];
  return { argv, line: `exec ${argv.join(' ')}` };
}

/** What the step looks like in the node's process table once it runs: `timeout …` (pft-step execs it). */
function runningStep(spec: StepCommandSpec): string[] {
  const { argv } = buildStepCommand(spec);
  if (spec.playbook !== 'installed') return argv.slice(argv.indexOf('timeout'));
  return ['timeout', '-k', String(KILL_AFTER_SECONDS), String(spec.timeoutSeconds), '/bin/sh', INSTALLED_PLAYBOOK, ...spec.args];
}

/**
 * The fallback that stops a running step from a second channel: `pkill -TERM` on the `timeout`
 * process whose whole command line is the step's. TERM makes `timeout` pass the signal on to the
 * step's process group and KILL it 2 s later. Needed where sshd ignores signal requests (OpenSSH
 * refuses them for root logins, which run without privilege separation). It runs without sudo:
 * a non-root login reaches its steps through the signal request instead.
 */
export function buildStopCommand(spec: StepCommandSpec): StepCommand {
  const pattern = runningStep(spec).join(' ');
  // Validated words and fixed paths only, so the pattern is near-literal as a regex (a `.` matches itself
  // too) and safe inside single quotes.
  if (!/^[a-z0-9 ./-]+$/.test(pattern)) throw new TriageError('internal', 'stop pattern has unexpected characters');
  return { argv: ['pkill', '-TERM', '-x', '-f', '--', pattern], line: `exec pkill -TERM -x -f -- '${pattern}'` };
}

function describe(value: unknown): string {
  return typeof value === 'number' ? String(value) : typeof value;
}
