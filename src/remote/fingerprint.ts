import { createHash } from 'node:crypto';

/**
 * Host key fingerprints as `ssh-keygen -lf` prints them: "SHA256:" and the unpadded base64 of the
 * SHA-256 of the key blob (the wire-format public key, which is also the base64 field of a .pub
 * or known_hosts line).
 */
export function fingerprintOfKeyBlob(blob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Configured fingerprints may carry the one padding "=" some tools print; the hash is what counts. */
export function sameFingerprint(a: string, b: string): boolean {
  const norm = (f: string) => f.trim().replace(/=+$/, '');
  return norm(a) === norm(b);
}
