import type { TriageView } from '../model/triage.js';
import { verdictKindSchema, type VerdictKind } from '../model/verdict.js';
import { templates, type TemplateSet } from './templates.js';
import { describeTrigger } from './view.js';
import { utcMinute } from './history.js';

/**
 * GET / as a page: every triage, newest first, one card each (node, verdict badge, summary, confidence, when
 * and how long, a link to its report), with filters by node and verdict and pages. Pure: the triages and the
 * links in, HTML out; every string is escaped by the template layer.
 */

export interface IndexPageInput {
  triages: readonly TriageView[];
  nodes: readonly string[];
  filter: { node: string | null; kind: VerdictKind | null };
  page: { number: number; newerUrl: string | null; olderUrl: string | null };
  /** The same page filtered to one node. */
  nodeUrl: (node: string) => string;
  allUrl: string;
}

export function indexView(input: IndexPageInput) {
  return {
    filter: input.filter,
    allUrl: input.allUrl,
    nodes: input.nodes.map((name) => ({ name, selected: name === input.filter.node })),
    kinds: verdictKindSchema.options.map((name) => ({ name, selected: name === input.filter.kind })),
    page: input.page,
    triages: input.triages.map((t) => {
      const started = t.startedAt ? Date.parse(t.startedAt) : NaN;
      const finished = t.finishedAt ? Date.parse(t.finishedAt) : NaN;
      return {
        node: t.node,
        nodeUrl: input.nodeUrl(t.node),
        badge: t.verdict?.kind ?? t.status,
        summary: t.verdict?.summary ?? `triage ${t.status}`,
        confidence: t.verdict?.confidence ?? null,
        when: utcMinute(t.createdAt),
        seconds: Number.isFinite(started) && Number.isFinite(finished) ? Math.max(0, Math.round((finished - started) / 1000)) : null,
        trigger: describeTrigger(t.trigger),
        reportUrl: t.reportUrl,
      };
    }),
  };
}

export function renderIndexPage(input: IndexPageInput, set: TemplateSet = templates()): string {
  return set.render('index.html.hbs', indexView(input), 'html');
}
