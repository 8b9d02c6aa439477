import { describe, expect, it } from 'vitest';
import { webhookSchema } from '../../src/intake/alertmanager.js';
import { bearerMatches } from '../../src/intake/auth.js';
import { routeAlert } from '../../src/intake/route-alert.js';
import { testConfig, webhook } from '../support/service.js';

const config = testConfig('/nonexistent');

describe('webhookSchema', () => {
  it('accepts a version-4 body and keeps unknown fields', () => {
    const body = { ...webhook([{ labels: { instance: 'local' } }]), someNewField: { x: 1 } };
    body.alerts[0] = { ...body.alerts[0]!, newAlertField: true } as (typeof body.alerts)[number];
    const parsed = webhookSchema.parse(body);
    expect(parsed.alerts[0]!.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect((parsed as Record<string, unknown>).someNewField).toEqual({ x: 1 });
  });

  it('accepts the timestamps Alertmanager writes (nanoseconds, the zero time)', () => {
    const body = webhook([{ labels: { instance: 'local' }, startsAt: '2026-11-27T04:51:00.123456789Z' }]);
    expect(webhookSchema.safeParse(body).success).toBe(true);
  });

  it.each([
    ['version', (b: any) => (b.version = '3'), ['version']],
    ['alerts', (b: any) => delete b.alerts, ['alerts']],
    ['a fingerprint', (b: any) => delete b.alerts[0].fingerprint, ['alerts', 0, 'fingerprint']],
    ['a status', (b: any) => (b.alerts[0].status = 'pending'), ['alerts', 0, 'status']],
    ['a label value', (b: any) => (b.alerts[0].labels.instance = 9100), ['alerts', 0, 'labels', 'instance']],
    ['startsAt', (b: any) => (b.alerts[0].startsAt = 'yesterday'), ['alerts', 0, 'startsAt']],
  ])('names the bad field: %s', (_what, spoil, path) => {
    const body = webhook([{ labels: { instance: 'local' } }]);
    spoil(body);
    const r = webhookSchema.safeParse(body);
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(path);
  });
});

describe('routeAlert', () => {
  const alert = (labels: Record<string, string>, status: 'firing' | 'resolved' = 'firing') =>
    webhookSchema.parse(webhook([{ labels, status }])).alerts[0]!;

  it('maps a firing alert to its node with an alert trigger', () => {
    const r = routeAlert(alert({ instance: 'localhost:9100' }), config);
    expect(r.kind).toBe('firing');
    if (r.kind !== 'firing') return;
    expect(r.node.name).toBe('local');
    expect(r.trigger).toMatchObject({ kind: 'alert', alertname: 'NodeMemoryMajorPagesFaults', startsAt: '2026-11-27T03:12:00.000Z' });
  });

  it('gives a reason for other alertnames, unknown nodes and missing labels', () => {
    expect(routeAlert(alert({ alertname: 'NodeFilesystemFull', instance: 'local' }), config)).toMatchObject({
      kind: 'ignored',
      reason: 'alertname "NodeFilesystemFull" is not in triage.alertnames',
    });
    expect(routeAlert(alert({ instance: '10.9.9.9:9100' }), config)).toMatchObject({
      kind: 'ignored',
      reason: 'no node in the inventory matches the alert (instance="10.9.9.9:9100")',
    });
    const noName = webhookSchema.parse(webhook([{ labels: { instance: 'local' } }])).alerts[0]!;
    delete (noName.labels as Record<string, string>).alertname;
    expect(routeAlert(noName, config)).toMatchObject({ kind: 'ignored', reason: 'the alert has no alertname label' });
  });

  it('cuts long label values in reasons', () => {
    const r = routeAlert(alert({ instance: 'x'.repeat(500) }), config);
    expect(r.kind === 'ignored' && r.reason.length).toBeLessThan(150);
  });

  it('sees resolved alerts of known nodes', () => {
    expect(routeAlert(alert({ instance: 'local' }, 'resolved'), config)).toMatchObject({ kind: 'resolved', node: { name: 'local' } });
  });
});

describe('bearerMatches', () => {
  const token = 'correct-horse-battery-staple';
  it.each([
    [`Bearer ${token}`, true],
    [`bearer ${token}`, true],
    [`Bearer  ${token} `, true],
    [undefined, false],
    ['', false],
    ['Bearer', false],
    ['Bearer ', false],
    [`Basic ${token}`, false],
    [`Bearer ${token}x`, false],
    [`Bearer ${token.slice(0, -1)}`, false],
    [token, false],
  ])('%j → %s', (header, ok) => expect(bearerMatches(header, token)).toBe(ok));
});
