import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TriageError } from '../../../src/errors.js';
import { buildStepCommand, buildStopCommand } from '../../../src/remote/command.js';
import { sudoersRule } from '../../support/sudoers.js';
import { checkInstalled } from '../../../src/remote/ssh.js';
import { SAFE_ARG } from '../../../src/playbook/steps.js';

describe('ssh.playbook: installed', () => {
  it('runs the root-owned entry point with the timeout and the arguments, nothing else', () => {
    expect(buildStepCommand({ args: ['rank', 'deadbeef01234567', '5'], timeoutSeconds: 30, sudo: true, playbook: 'installed' })).toEqual({
      argv: ['sudo', '-n', '/usr/local/lib/pagefault-triage/pft-step', '30', 'rank', 'deadbeef01234567', '5'],
      line: 'exec sudo -n /usr/local/lib/pagefault-triage/pft-step 30 rank deadbeef01234567 5',
    });
    expect(buildStepCommand({ args: ['probe', 'deadbeef01234567'], timeoutSeconds: 20, sudo: false, playbook: 'installed' }).line).toBe(
      'exec /usr/local/lib/pagefault-triage/pft-step 20 probe deadbeef01234567',
    );
    // The default is unchanged.
    expect(buildStepCommand({ args: ['rank'], timeoutSeconds: 5, sudo: true }).line).toBe('exec sudo -n timeout -k 2 5 sh -s -- rank');
  });

  it('stops the step by the command line it has once pft-step has exec-ed timeout', () => {
    expect(buildStopCommand({ args: ['capture', 'deadbeef01234567', '5', 'auto', '42'], timeoutSeconds: 60, sudo: true, playbook: 'installed' }).line).toBe(
      "exec pkill -TERM -x -f -- 'timeout -k 2 60 /bin/sh /usr/local/lib/pagefault-triage/playbook.sh capture deadbeef01234567 5 auto 42'",
    );
  });

  it('keeps validating every argument (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 40 }), { maxLength: 6 }), fc.boolean(), (args, sudo) => {
        if (args.every((a) => SAFE_ARG.test(a))) {
          const { line } = buildStepCommand({ args, timeoutSeconds: 9, sudo, playbook: 'installed' });
          expect(line).toMatch(/^exec (sudo -n )?\/usr\/local\/lib\/pagefault-triage\/pft-step 9( [a-z0-9-]+)*$/);
        } else {
          expect(() => buildStepCommand({ args, timeoutSeconds: 9, sudo, playbook: 'installed' })).toThrow(TriageError);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('the sudoers rule names the entry point only, for a POSIX user name only', () => {
    expect(sudoersRule('triage')).toBe('triage ALL=(root) NOPASSWD: /usr/local/lib/pagefault-triage/pft-step');
    for (const bad of ['root ALL=(ALL) ALL #', 'a b', 'Triage', '', 'x'.repeat(40)]) expect(() => sudoersRule(bad)).toThrow(TriageError);
  });
});

describe('checkInstalled', () => {
  const script = '# the playbook\n';
  const sum = createHash('sha256').update(script).digest('hex');
  const out = (stderr: string) => ({ stdout: 'x', stderr, exitCode: 0, exitSignal: null, truncated: false, ms: 1 });

  it('passes the bot\'s own playbook, without the banner line', () => {
    expect(checkInstalled(out(`pft-step: playbook sha256=${sum}\nwarning\n`), script, 'n1').stderr).toBe('warning\n');
  });

  it('refuses another playbook, and a step that never reached pft-step', () => {
    expect(() => checkInstalled(out(`pft-step: playbook sha256=${'0'.repeat(64)}\n`), script, 'n1')).toThrow(/^the playbook installed on n1 \(sha256 000000000000…\) is not this bot's/);
    expect(() => checkInstalled(out('sh: 1: exec: /usr/local/lib/pagefault-triage/pft-step: not found\n'), script, 'n1')).toThrow(
      /^the installed playbook did not run on n1 \(sh: 1: exec: .*not found\): install it with scripts\/setup-node\.sh/,
    );
  });
});
