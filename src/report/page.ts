import { Marked, type Tokens } from 'marked';
import { escapeHtml, TrustedHtml } from './escape.js';
import { sparksToSvg } from './spark.js';
import { templates, type TemplateSet } from './templates.js';

/**
 * The report as an HTML page: the stored Markdown rendered with marked inside
 * templates/report-page.html.hbs. Raw HTML in the Markdown never passes through (it is shown as
 * text), and links keep only http(s), mailto and in-page/relative targets.
 */

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
  const html = sparksToSvg(marked.parse(markdown, { async: false }));
  return html.replaceAll('<table>', '<div class="table-wrap"><table>').replaceAll('</table>', '</table></div>');
}

/** Puts a chart (trusted markup) right after the section heading that starts with `heading`, or nowhere without it. */
export function withChartAfter(bodyHtml: string, heading: string, chart: string): string {
  if (!chart) return bodyHtml;
  const at = bodyHtml.indexOf(`<h2>${heading}`);
  const end = at < 0 ? -1 : bodyHtml.indexOf('</h2>', at);
  return end < 0 ? bodyHtml : bodyHtml.slice(0, end + 5) + chart + bodyHtml.slice(end + 5);
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
  /** The index of all triages (GET /). */
  indexUrl: string;
  /** The node's previous triage, when there was one in the last days. */
  previous: { url: string } | null;
}

/** Renders the page; every field but the body (trusted markup) is escaped like any view model. */
export function renderReportPage(data: ReportPageData, set: TemplateSet = templates()): string {
  return set.render('report-page.html.hbs', { ...data, body: new TrustedHtml(data.body) }, 'html');
}
