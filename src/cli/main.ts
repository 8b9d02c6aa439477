#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { TriageError } from '../errors.js';
import { WINDOW_SECONDS } from '../model/limits.js';
import { runCommand } from './run.js';
import { doctorCommand } from './doctor.js';

const USAGE = `pagefault-triage: finds who causes major page faults on a node, and why.

Usage:
  pagefault-triage serve  [--config FILE]
  pagefault-triage run NODE [--config FILE] [--sample SECONDS] [--capture SECONDS] [--json]
  pagefault-triage doctor [--config FILE] [NODE]

Without --config the embedded default is used: the "local" node, served on 127.0.0.1:9095.`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      sample: { type: 'string' },
      capture: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const config = loadConfig(values.config);
  switch (command) {
    case 'serve': {
      const { startServer } = await import('../server/server.js');
      await startServer(config);
      return -1; // keeps running until a signal
    }
    case 'run': {
      if (rest.length !== 1) throw new UsageError('run needs exactly one NODE');
      return runCommand(config, rest[0]!, {
        sampleSeconds: seconds(values.sample, '--sample'),
        captureSeconds: seconds(values.capture, '--capture'),
        json: values.json ?? false,
      });
    }
    case 'doctor':
      if (rest.length > 1) throw new UsageError('doctor takes at most one NODE');
      return doctorCommand(config, rest[0]);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

class UsageError extends Error {}

function seconds(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const { min, max } = WINDOW_SECONDS;
  if (!/^\d{1,3}$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`${flag} takes whole seconds from ${min} to ${max}, not "${v}"`);
  return Number(v);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`pagefault-triage: ${err.message}\n\n${USAGE}\n`);
      process.exitCode = 2;
    } else if (err instanceof TriageError) {
      process.stderr.write(`pagefault-triage: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`pagefault-triage: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
