import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { TriageError } from '../../../src/errors.js';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures');
/** The nonce the playbook fixtures were captured with. */
export const NONCE = '0123456789abcdef';

export function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

/** Runs fn and returns the TriageError it throws (failing the test when it does not throw one). */
export function parseError(fn: () => unknown): TriageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TriageError);
    return err as TriageError;
  }
  throw new Error('expected a TriageError, nothing was thrown');
}

/** What `cut -d ' ' -f 1-28` does to each line (the playbook cuts stat dumps that way). */
export function cutFields(text: string, n = 28): string {
  return text
    .split('\n')
    .map((line) => (line.includes(' ') ? line.split(' ').slice(0, n).join(' ') : line))
    .join('\n');
}
