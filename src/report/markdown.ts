import type { LinkedHistoryEntry } from '../model/context.js';
import type { PrometheusContext } from '../model/prometheus-context.js';
import type { TriageResult } from '../model/triage.js';
import { templates, type TemplateSet } from './templates.js';
import { reportView } from './view.js';

/** Renders the Markdown report of a triage. Throws TriageError on a missing template or field. */
export function renderReport(
  result: TriageResult,
  opts: { reportUrl: string | null; history?: readonly LinkedHistoryEntry[]; prometheus?: PrometheusContext | undefined },
  set: TemplateSet = templates(),
): string {
  return set.render('report.md.hbs', reportView(result, opts.reportUrl, opts.history, opts.prometheus), 'markdown');
}
