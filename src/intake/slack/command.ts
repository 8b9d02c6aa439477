import { WINDOW_SECONDS } from '../../model/limits.js';
import type { RunOptions } from '../../model/triage.js';

/**
 * The slash command's text, parsed: `help`, `nodes`, `last NODE`, `NODE [sample=S] [capture=S]`.
 * Pure: the inventory's node names come in, a command or the reason it is not one comes out. Only
 * inventory names and validated integers leave this function; the text itself never reaches a node.
 */

export type SlashCommand =
  | { kind: 'help' }
  | { kind: 'nodes' }
  | { kind: 'last'; node: string }
  | { kind: 'triage'; node: string; options: RunOptions }
  | { kind: 'unknown_node'; given: string }
  | { kind: 'bad_argument'; given: string; problem: string; node: string | null }
  | { kind: 'usage'; problem: string };

const WINDOW_KEYS: Record<string, keyof RunOptions> = { sample: 'sampleSeconds', capture: 'captureSeconds' };

export function parseCommand(text: string, nodes: readonly string[]): SlashCommand {
  const words = text.trim().split(/\s+/).filter((w) => w !== '');
  const [first, ...rest] = words;
  if (first === undefined || first.toLowerCase() === 'help') return { kind: 'help' };
  const word = first.toLowerCase();

  if (word === 'nodes' && !nodes.includes(first)) {
    return rest.length === 0 ? { kind: 'nodes' } : { kind: 'usage', problem: '`nodes` takes no arguments' };
  }
  if (word === 'last' && !nodes.includes(first)) {
    if (rest.length !== 1) return { kind: 'usage', problem: '`last` takes one node name' };
    const node = findName(rest[0]!, nodes);
    return node === undefined ? { kind: 'unknown_node', given: rest[0]! } : { kind: 'last', node };
  }

  const node = findName(first, nodes);
  if (node === undefined) return { kind: 'unknown_node', given: first };
  const options: RunOptions = {};
  for (const arg of rest) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(arg);
    const key = m ? WINDOW_KEYS[m[1]!.toLowerCase()] : undefined;
    if (!m || key === undefined) {
      return { kind: 'bad_argument', given: arg, node, problem: 'the only arguments after the node are `sample=S` and `capture=S`' };
    }
    if (options[key] !== undefined) return { kind: 'bad_argument', given: arg, node, problem: `\`${m[1]!.toLowerCase()}\` is given twice` };
    const value = m[2]!;
    if (!/^\d{1,2}$/.test(value) || Number(value) < WINDOW_SECONDS.min || Number(value) > WINDOW_SECONDS.max) {
      return { kind: 'bad_argument', given: arg, node, problem: `${m[1]!.toLowerCase()} takes whole seconds from ${WINDOW_SECONDS.min} to ${WINDOW_SECONDS.max}` };
    }
    options[key] = Number(value);
  }
  return { kind: 'triage', node, options };
}

/** Node names are matched exactly, else ignoring case (people type what they read in an alert). */
function findName(given: string, nodes: readonly string[]): string | undefined {
  if (nodes.includes(given)) return given;
  const lower = given.toLowerCase();
  const matches = nodes.filter((n) => n.toLowerCase() === lower);
  return matches.length === 1 ? matches[0] : undefined;
}
