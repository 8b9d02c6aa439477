import { describe, expect, it } from 'vitest';
import { SAFE_ARG } from '../../../src/playbook/steps.js';
import { captureArgs, captureTimeoutSeconds, newNonce, playbookScript, probeArgs, rankArgs, rankTimeoutSeconds } from '../../../src/playbook/steps.js';
import { parseError } from './helpers.js';

describe('playbook step arguments', () => {
  it('makes fresh 32-hex-digit nonces that are safe arguments', () => {
    const a = newNonce();
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(SAFE_ARG.test(a)).toBe(true);
    expect(newNonce()).not.toBe(a);
  });

  it('builds each step', () => {
    const n = '0123456789abcdef';
    expect(probeArgs(n)).toEqual(['probe', n]);
    expect(rankArgs(n, 5)).toEqual(['rank', n, '5']);
    expect(rankArgs(n, 5, { captureSeconds: 4, tier: 'perf' })).toEqual(['rank', n, '5', '4', 'perf']);
    expect(parseError(() => rankArgs(n, 5, { captureSeconds: 0, tier: 'perf' })).code).toBe('config_invalid');
    expect(parseError(() => rankArgs(n, 5, { captureSeconds: 5, tier: 'ebpf' as never })).code).toBe('config_invalid');
    expect(captureArgs(n, 10, 'auto', [])).toEqual(['capture', n, '10', 'auto']);
    expect(captureArgs(n, 3, 'perf', [42, 7, 42])).toEqual(['capture', n, '3', 'perf', '42', '7']);
    for (const args of [probeArgs(n), rankArgs(n, 5), captureArgs(n, 3, 'tracepoint', [1, 4194304])]) {
      expect(args.every((a) => SAFE_ARG.test(a))).toBe(true);
    }
  });

  it('refuses anything but validated numbers, tiers and nonces', () => {
    const n = '0123456789abcdef';
    expect(parseError(() => rankArgs(n, 0)).code).toBe('config_invalid');
    expect(parseError(() => rankArgs(n, 1.5)).code).toBe('config_invalid');
    expect(parseError(() => rankArgs(n, 3601)).code).toBe('config_invalid');
    expect(parseError(() => captureArgs(n, 5, 'perf; rm -rf /' as never, [])).code).toBe('config_invalid');
    expect(parseError(() => captureArgs(n, 5, 'auto', [0])).code).toBe('internal');
    expect(parseError(() => captureArgs(n, 5, 'auto', [-1])).code).toBe('internal');
    expect(parseError(() => captureArgs(n, 5, 'auto', [Number.NaN])).code).toBe('internal');
    expect(parseError(() => captureArgs(n, 5, 'auto', Array.from({ length: 300 }, (_, i) => i + 1))).code).toBe('internal');
    expect(parseError(() => probeArgs('abc')).code).toBe('internal');
    expect(parseError(() => probeArgs('0123456789ABCDEF')).code).toBe('internal');
  });

  it('reads the script once, and suggests timeouts above the window', () => {
    const s = playbookScript();
    expect(s).toContain('pft_main "$@"');
    expect(playbookScript()).toBe(s);
    expect(rankTimeoutSeconds(5)).toBeGreaterThan(6);
    expect(captureTimeoutSeconds(5)).toBeGreaterThan(2 * 5 + 10);
  });
});
