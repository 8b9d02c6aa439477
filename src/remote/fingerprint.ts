import { createHash } from 'node:crypto';

/**
 * Host key fingerprints as `ssh-keygen -lf` prints them: "SHA256:" and the unpadded base64 of the
 * SHA-256 of the key blob (the wire-format public key, which is also the base64 field of a .pub
 * or known_hosts line).
 */
export function fingerprintOfKeyBlob(blob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Fingerprint of an OpenSSH public key line (`type base64 [comment]`, as in a .pub file). */
export function fingerprintOfPublicKeyLine(line: string): string {
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

/** Configured fingerprints may carry the one padding "=" some tools print; the hash is what counts. */
export function sameFingerprint(a: string, b: string): boolean {
  const norm = (f: string) => f.trim().replace(/=+$/, '');
  return norm(a) === norm(b);
}
