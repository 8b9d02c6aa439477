import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';
import { instanceHost, nodeSeriesLabels } from '../../../src/context/prometheus.js';
import type { Trigger } from '../../../src/model/triage.js';

const config = configSchema.parse({
  nodes: [
    { name: 'node-1', local: true, prometheus: { selector: { instance: '10.0.0.5:9100' } } },
    { name: 'node-2', local: true },
  ],
});
const [withSelector, without] = [config.nodes[0]!, config.nodes[1]!];
const alert = (labels: Record<string, string>): Trigger => ({ kind: 'alert', alertname: 'NodeMemoryMajorPagesFaults', fingerprint: 'f', startsAt: '', labels, annotations: {} });

describe('nodeSeriesLabels', () => {
  it("an alert selects by its own instance and job, and nothing else it carries", () => {
    expect(nodeSeriesLabels(withSelector, alert({ instance: '10.0.3.7:9100', job: 'node-exporter', severity: 'warning', alertname: 'x' }))).toEqual({
      instance: '10.0.3.7:9100',
      job: 'node-exporter',
    });
    expect(nodeSeriesLabels(without, alert({ instance: 'node-7' }))).toEqual({ instance: 'node-7' });
  });
  it("an alert without an instance falls back to the node's selector", () => {
    expect(nodeSeriesLabels(withSelector, alert({ job: 'node' }))).toEqual({ instance: '10.0.0.5:9100' });
    expect(nodeSeriesLabels(without, alert({ job: 'node' }))).toBeNull();
  });
  it("manual triages use the node's selector, or have none", () => {
    expect(nodeSeriesLabels(withSelector, { kind: 'cli' })).toEqual({ instance: '10.0.0.5:9100' });
    expect(nodeSeriesLabels(without, { kind: 'slack', user: 'U1', channel: null })).toBeNull();
  });
});

describe('instanceHost', () => {
  it.each([
    ['10.0.0.5:9100', '10.0.0.5'],
    ['node-7', 'node-7'],
    ['[fe80::1]:9100', '[fe80::1]'],
    ['node-7.example:9100', 'node-7.example'],
    ['weird:host:1', 'weird:host:1'],
  ])('%s → %s', (instance, host) => {
    expect(instanceHost(instance)).toBe(host);
  });
});
