import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintOfKeyBlob, sameFingerprint } from '../../../src/remote/fingerprint.js';

/** Fingerprint of an OpenSSH public key line (`type base64 [comment]`, as in a .pub file). */
function fingerprintOfPublicKeyLine(line: string): string {
  const fields = line.trim().split(/\s+/);
  const type = fields[0];
  const b64 = fields[1];
  if (type === undefined || b64 === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw new Error('not an OpenSSH public key line ("type base64 [comment]")');
  }
  const blob = Buffer.from(b64, 'base64');
  // The blob starts with its own type name: a line whose two fields disagree is not a key.
  const nameLength = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (nameLength < 0 || blob.length < 4 + nameLength || blob.subarray(4, 4 + nameLength).toString('latin1') !== type) {
    throw new Error(`public key blob does not start with its type "${type}"`);
  }
  return fingerprintOfKeyBlob(blob);
}

let dir: string;
let made = 0;

beforeAll(() => {
  try {
    execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
  } catch (err) {
    // ssh-keygen -? exits 1 after printing usage; only a missing binary is a problem.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('ssh-keygen is missing: install the Debian package openssh-client');
    }
  }
  dir = mkdtempSync(join(tmpdir(), 'pft-fp-'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A fresh key pair, and the fingerprint `ssh-keygen -lf` prints for it. */
function keygen(type: string, bits?: number): { pub: string; expected: string } {
  const file = join(dir, `key-${++made}-${type}`);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-C', 'test key', '-f', file]);
  const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`], { encoding: 'utf8' });
  // "256 SHA256:abc… test key (ED25519)"
  const expected = printed.split(' ')[1] ?? '';
  expect(expected).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  return { pub: readFileSync(`${file}.pub`, 'utf8'), expected };
}

describe('host key fingerprints', () => {
  it.each<[string, number?]>([['ed25519'], ['ecdsa', 256], ['ecdsa', 521], ['rsa', 2048]])('match ssh-keygen -lf for a %s key', (type, bits) => {
    const { pub, expected } = keygen(type, bits);
    expect(fingerprintOfPublicKeyLine(pub)).toBe(expected);
    const blob = Buffer.from(pub.split(' ')[1] ?? '', 'base64');
    expect(fingerprintOfKeyBlob(blob)).toBe(expected);
  });

  it('has no base64 padding', () => {
    expect(fingerprintOfKeyBlob(Buffer.from('x'))).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('refuses a line that is not a public key', () => {
    expect(() => fingerprintOfPublicKeyLine('')).toThrow(/not an OpenSSH public key/);
    expect(() => fingerprintOfPublicKeyLine('ssh-ed25519')).toThrow(/not an OpenSSH public key/);
    expect(() => fingerprintOfPublicKeyLine('ssh-ed25519 !!!')).toThrow(/not an OpenSSH public key/);
    const { pub } = keygen('ed25519');
    const b64 = pub.split(' ')[1];
    expect(() => fingerprintOfPublicKeyLine(`ssh-rsa ${b64}`)).toThrow(/does not start with its type/);
  });

  it('compares with or without the one padding character', () => {
    const f = 'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU';
    expect(sameFingerprint(f, `${f}=`)).toBe(true);
    expect(sameFingerprint(f, f.replace('47', '48'))).toBe(false);
    expect(sameFingerprint(f, f.toLowerCase())).toBe(false);
  });
});
