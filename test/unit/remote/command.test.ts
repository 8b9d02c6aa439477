import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TriageError } from '../../../src/errors.js';
import { buildStepCommand, buildStopCommand } from '../../../src/remote/command.js';
import { SAFE_ARG } from '../../../src/playbook/steps.js';

const refusal = (index: number) => `playbook argument ${index} is not a safe token (${SAFE_ARG.source})`;

function refused(fn: () => unknown): TriageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TriageError);
    expect((err as TriageError).code).toBe('internal');
    return err as TriageError;
  }
  throw new Error('expected the command to be refused');
}

// Things a shell would read more into than a word.
const nasty = [
  '',
  ' ',
  'rank; rm -rf /',
  '$(id)',
  '`id`',
  "'",
  '"',
  'a b',
  'rank\n',
  '\nrank',
  'rank\0',
  '\0',
  'rank\r',
  '-n',
  '--',
  'Rank',
  'rank|cat',
  'rank&',
  'rank>x',
  '*',
  '~',
  'ránk',
  'rank\u2028',
  '１２３',
  '٣',
  'g'.repeat(33), // a name is at most 32 characters
  '0'.repeat(65),
  '${IFS}',
  '\\',
];

describe('buildStepCommand', () => {
  it('builds the step command with and without sudo', () => {
    expect(buildStepCommand({ args: ['rank', '5', 'deadbeef01'], timeoutSeconds: 30, sudo: false })).toEqual({
      argv: ['timeout', '-k', '2', '30', 'sh', '-s', '--', 'rank', '5', 'deadbeef01'],
      line: 'exec timeout -k 2 30 sh -s -- rank 5 deadbeef01',
    });
    expect(buildStepCommand({ args: [], timeoutSeconds: 1, sudo: true })).toEqual({
      argv: ['sudo', '-n', 'timeout', '-k', '2', '1', 'sh', '-s', '--'],
      line: 'exec sudo -n timeout -k 2 1 sh -s --',
    });
  });

  it.each(nasty)('refuses the argument %j', (arg) => {
    const err = refused(() => buildStepCommand({ args: ['rank', arg], timeoutSeconds: 5, sudo: false }));
    expect(err.message).toBe(refusal(1));
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 86_401, 2 ** 53, '5' as unknown as number, null as unknown as number])(
    'refuses the timeout %s',
    (timeoutSeconds) => {
      refused(() => buildStepCommand({ args: ['rank'], timeoutSeconds, sudo: false }));
    },
  );

  it('refuses non-string arguments', () => {
    refused(() => buildStepCommand({ args: [5 as unknown as string], timeoutSeconds: 5, sudo: false }));
  });

  // Any string: full unicode, lone surrogates, control characters, NUL, shell syntax.
  const anyString = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: fc.constantFrom(...'abz09-;&|$()`\'"\\ \n\t\0*?~<>{}[]#!=%^'.split('')), maxLength: 20 }),
    fc.constantFrom(...nasty),
    // A safe token with something glued on either side.
    fc.tuple(fc.constantFrom('rank', '42', 'deadbeef'), fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }), fc.boolean()).map(
      ([tok, junk, before]) => (before ? junk + tok : tok + junk),
    ),
  );
  const safeArg = fc.oneof(
    fc.stringMatching(/^[a-z][a-z0-9-]{0,31}$/),
    fc.stringMatching(/^[0-9]{1,10}$/),
    fc.stringMatching(/^[0-9a-f]{8,64}$/),
  );

  it('refuses every argument that is not a safe token, and a refused one never reaches a command', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(safeArg, anyString), { maxLength: 6 }), fc.boolean(), (args, sudo) => {
        const firstBad = args.findIndex((a) => !SAFE_ARG.test(a));
        if (firstBad === -1) {
          const { argv, line } = buildStepCommand({ args, timeoutSeconds: 7, sudo });
          expect(argv.slice(argv.length - args.length)).toEqual(args);
          expect(line).toBe(`exec ${sudo ? 'sudo -n ' : ''}timeout -k 2 7 sh -s --${args.map((a) => ` ${a}`).join('')}`);
          // Nothing but words from a tiny alphabet, one space apart.
          expect(line).toMatch(/^exec (sudo -n )?timeout -k 2 7 sh -s --( [a-z0-9-]+)*$/);
        } else {
          const err = refused(() => buildStepCommand({ args, timeoutSeconds: 7, sudo }));
          expect(err.message).toBe(refusal(firstBad));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses every timeout that is not an integer number of seconds', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.integer({ max: 0 }), fc.integer({ min: 86_401 })), (t) => {
        fc.pre(!(Number.isInteger(t) && t >= 1 && t <= 86_400));
        refused(() => buildStepCommand({ args: ['rank'], timeoutSeconds: t, sudo: false }));
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 86_400 }), (t) => {
        expect(buildStepCommand({ args: [], timeoutSeconds: t, sudo: false }).argv[3]).toBe(String(t));
      }),
    );
  });
});

describe('buildStopCommand', () => {
  it('matches the whole command line of the step\'s timeout process, with or without sudo', () => {
    const expected = {
      argv: ['pkill', '-TERM', '-x', '-f', '--', 'timeout -k 2 30 sh -s -- rank 5 deadbeef01'],
      line: "exec pkill -TERM -x -f -- 'timeout -k 2 30 sh -s -- rank 5 deadbeef01'",
    };
    expect(buildStopCommand({ args: ['rank', '5', 'deadbeef01'], timeoutSeconds: 30, sudo: false })).toEqual(expected);
    expect(buildStopCommand({ args: ['rank', '5', 'deadbeef01'], timeoutSeconds: 30, sudo: true })).toEqual(expected);
  });

  it('refuses what the step command refuses', () => {
    refused(() => buildStopCommand({ args: ["x'; reboot; '"], timeoutSeconds: 30, sudo: false }));
    refused(() => buildStopCommand({ args: [], timeoutSeconds: 0.5, sudo: false }));
  });
});
