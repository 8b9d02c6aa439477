import { WINDOW_SECONDS } from '../../model/limits.js';
import type { Admission, TriageView } from '../../model/triage.js';
import { templates, type TemplateSet } from '../templates.js';
import { SECTION_TEXT_MAX, cutText } from './blocks.js';
import { codeText, render, slackTime } from './messages.js';

/**
 * The bot's answers to the slash command and to buttons, shown only to the person who asked
 * (ephemeral). Wording lives in templates/slack/; every answer says what would work instead.
 */

/** Names listed in an answer before "and N more". */
const NODES_LISTED = 30;

export interface AnswerContext {
  command: string;
  nodes: readonly string[];
  sampleSeconds: number;
  captureSeconds: number;
  restricted: boolean;
}

const answer = (set: TemplateSet, name: string, view: object): string => cutText(render(set, name, view), SECTION_TEXT_MAX);

const listed = (nodes: readonly string[]) => ({
  names: nodes.slice(0, NODES_LISTED).map((n) => codeText(n)),
  more: Math.max(0, nodes.length - NODES_LISTED),
  example: nodes[0] ?? 'NODE',
});

/** `allowed`: whether the asking user may use the bot; the inventory is shown only to those who may. */
export function helpAnswer(ctx: AnswerContext, allowed: boolean, set: TemplateSet = templates()): string {
  return answer(set, 'help.mrkdwn.hbs', {
    command: ctx.command,
    sampleSeconds: ctx.sampleSeconds,
    captureSeconds: ctx.captureSeconds,
    min: WINDOW_SECONDS.min,
    max: WINDOW_SECONDS.max,
    restricted: ctx.restricted,
    allowed,
    ...listed(allowed ? ctx.nodes : []),
  });
}

export interface NodeLine {
  name: string;
  local: boolean;
  last: TriageView | null;
}

export function nodesAnswer(ctx: AnswerContext, lines: readonly NodeLine[], set: TemplateSet = templates()): string {
  return answer(set, 'nodes.mrkdwn.hbs', {
    command: ctx.command,
    count: lines.length,
    nodes: lines.slice(0, NODES_LISTED).map((l) => ({
      name: codeText(l.name),
      local: l.local,
      last: l.last ? { summary: codeText(l.last.verdict?.summary ?? l.last.status), at: slackTime(l.last.finishedAt ?? l.last.createdAt) } : null,
    })),
    more: Math.max(0, lines.length - NODES_LISTED),
    example: lines[0]?.name ?? 'NODE',
  });
}

/** `last NODE`: the newest finished triage, and the one running now if any. */
export function lastAnswer(ctx: AnswerContext, node: string, finished: TriageView | null, current: TriageView | null, set: TemplateSet = templates()): string {
  const v = finished?.verdict ?? null;
  return answer(set, 'last.mrkdwn.hbs', {
    command: ctx.command,
    node,
    triage: finished
      ? {
          id: finished.id,
          summary: codeText(v?.summary ?? finished.status),
          confidence: v?.confidence ?? null,
          at: slackTime(finished.finishedAt ?? finished.createdAt),
          reportUrl: finished.reportUrl,
        }
      : null,
    current: current ? { id: current.id, status: current.status } : null,
  });
}

export function admissionAnswer(ctx: AnswerContext, admission: Admission, where: 'channel' | 'thread', set: TemplateSet = templates()): string {
  return answer(set, 'admitted.mrkdwn.hbs', {
    command: ctx.command,
    status: admission.status,
    id: admission.id,
    node: admission.node,
    reason: 'reason' in admission ? admission.reason : null,
    where,
  });
}

export type Refusal =
  | { kind: 'not_allowed' }
  | { kind: 'unknown_node'; given: string }
  | { kind: 'bad_argument'; given: string; problem: string; node: string | null }
  | { kind: 'usage'; problem: string }
  | { kind: 'shutting_down' }
  | { kind: 'store_unavailable' }
  | { kind: 'bad_button' };

export function refusalAnswer(ctx: AnswerContext, refusal: Refusal, set: TemplateSet = templates()): string {
  return answer(set, 'refused.mrkdwn.hbs', {
    command: ctx.command,
    kind: refusal.kind,
    given: 'given' in refusal ? codeText(refusal.given, 80) : null,
    // Our own wording, but it may quote the argument: escaped like the rest.
    problem: 'problem' in refusal ? refusal.problem : null,
    node: 'node' in refusal && refusal.node !== null ? refusal.node : null,
    min: WINDOW_SECONDS.min,
    max: WINDOW_SECONDS.max,
    ...listed(ctx.nodes),
  });
}
