import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../src/intake/slack/command.js';

const nodes = ['node-1', 'node-2', 'Web-3', 'local'];

describe('parseCommand', () => {
  it.each([
    ['', { kind: 'help' }],
    ['  help ', { kind: 'help' }],
    ['HELP', { kind: 'help' }],
    ['nodes', { kind: 'nodes' }],
    ['last node-2', { kind: 'last', node: 'node-2' }],
    ['node-1', { kind: 'triage', node: 'node-1', options: {} }],
    ['web-3', { kind: 'triage', node: 'Web-3', options: {} }],
    ['node-1 sample=3', { kind: 'triage', node: 'node-1', options: { sampleSeconds: 3 } }],
    ['node-1   capture=60 sample=1', { kind: 'triage', node: 'node-1', options: { sampleSeconds: 1, captureSeconds: 60 } }],
    ['node-1 SAMPLE=5', { kind: 'triage', node: 'node-1', options: { sampleSeconds: 5 } }],
  ])('%j', (text, expected) => expect(parseCommand(text, nodes)).toEqual(expected));

  it.each([
    ['node-9', { kind: 'unknown_node', given: 'node-9' }],
    ['last node-9', { kind: 'unknown_node', given: 'node-9' }],
    ['<!channel>', { kind: 'unknown_node', given: '<!channel>' }],
    ['last', { kind: 'usage' }],
    ['last a b', { kind: 'usage' }],
    ['nodes all', { kind: 'usage' }],
    ['node-1 sample=0', { kind: 'bad_argument', given: 'sample=0', node: 'node-1' }],
    ['node-1 sample=61', { kind: 'bad_argument', given: 'sample=61' }],
    ['node-1 sample=5s', { kind: 'bad_argument', given: 'sample=5s' }],
    ['node-1 sample=-1', { kind: 'bad_argument' }],
    ['node-1 sample=1e1', { kind: 'bad_argument' }],
    ['node-1 sample=2 sample=3', { kind: 'bad_argument', problem: '`sample` is given twice' }],
    ['node-1 tracer=none', { kind: 'bad_argument', given: 'tracer=none' }],
    ['node-1 ;reboot', { kind: 'bad_argument', given: ';reboot' }],
  ])('refuses %j', (text, expected) => expect(parseCommand(text, nodes)).toMatchObject(expected));

  it('lets an inventory node be called "nodes" or "last"', () => {
    expect(parseCommand('nodes', ['nodes'])).toEqual({ kind: 'triage', node: 'nodes', options: {} });
  });
});
