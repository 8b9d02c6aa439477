import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { Marked, type Tokens } from 'marked';
import { TriageError } from '../errors.js';
import { templatesDir } from '../paths.js';

/**
 * The report as an HTML page: the stored Markdown rendered with marked inside
 * templates/report-page.html.hbs. Raw HTML in the Markdown never passes through (it is shown as
 * text), and links keep only http(s), mailto and in-page/relative targets.
 */

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function safeHref(href: string): string | null {
  const h = href.trim();
  if (/^(?:https?:|mailto:)/i.test(h)) return h;
  if (/^[a-z][a-z0-9+.-]*:/i.test(h)) return null; // javascript:, data:, anything else with a scheme
  return h;
}

const marked = new Marked({
  gfm: true,
  renderer: {
    html({ text }: Tokens.HTML | Tokens.Tag): string {
      return escapeHtml(text);
    },
    link({ href, title, tokens }: Tokens.Link): string {
      const text = this.parser.parseInline(tokens);
      const safe = safeHref(href);
      if (safe === null) return text;
      const t = title ? ` title="${escapeHtml(title)}"` : '';
      return `<a href="${escapeHtml(safe)}"${t} rel="noopener noreferrer">${text}</a>`;
    },
    image({ text }: Tokens.Image): string {
      return escapeHtml(text); // the page loads nothing from elsewhere (see the CSP in the route)
    },
  },
});

/** Markdown → HTML fragment; tables get a wrapper that scrolls sideways on narrow screens. */
export function markdownToHtml(markdown: string): string {
  const html = marked.parse(markdown, { async: false });
  return html.replaceAll('<table>', '<div class="table-wrap"><table>').replaceAll('</table>', '</table></div>');
}

/** Puts a chart (trusted markup from majfltChart) in front of the report's first section. */
export function withChart(bodyHtml: string, chart: string): string {
  if (!chart) return bodyHtml;
  const at = bodyHtml.indexOf('<h2');
  return at < 0 ? bodyHtml + chart : bodyHtml.slice(0, at) + chart + bodyHtml.slice(at);
}

export interface ReportPageData {
  /** Page title, plain text. */
  title: string;
  node: string;
  status: string;
  verdictKind: string;
  /** HTML from markdownToHtml (with withChart). */
  body: string;
  markdownUrl: string;
  triageUrl: string;
  createdAt: string;
}

type PageTemplate = (data: ReportPageData) => string;

let compiled: PageTemplate | undefined;

function loadTemplate(): PageTemplate {
  const file = join(templatesDir, 'report-page.html.hbs');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TriageError('template_missing', `cannot read the report page template ${file}`, { cause: err });
  }
  return Handlebars.compile<ReportPageData>(text, { strict: true });
}

/** Renders the page. A field the template needs but data lacks throws (handlebars strict mode). */
export function renderReportPage(data: ReportPageData): string {
  compiled ??= loadTemplate();
  try {
    return compiled(data);
  } catch (err) {
    throw new TriageError('template_field_missing', `report page template: ${(err as Error).message}`, { cause: err });
  }
}
