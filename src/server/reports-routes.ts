import type { FastifyPluginAsync } from 'fastify';
import { hotRegionsChart, majfltChart } from '../report/chart.js';
import { historyChart } from '../report/history-chart.js';
import { markdownToHtml, renderReportPage, withChart, withChartAfter } from '../report/page.js';
import type { Service } from '../service.js';
import { triageIdPattern } from '../model/ids.js';
import { signedQuery } from '../model/report-link.js';
import { readOneHook } from './report-access.js';

/** The page loads nothing but itself: inline styles, no scripts, no remote images. */
const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** GET /reports/:id (HTML page) and GET /reports/:id.md (the stored Markdown). */
export const reportsRoutes: FastifyPluginAsync<{ service: Service }> = async (app, { service }) => {
  const token = service.config.server.reportToken;
  const idOf = (file: string): string => (file.endsWith('.md') ? file.slice(0, -3) : file);
  const readOne = readOneHook(token, (req) => idOf((req.params as { file: string }).file));
  const previousOf = (id: string | undefined) => (id === undefined ? null : { url: `${id}${signedQuery(token, id)}` });
  app.get<{ Params: { file: string } }>('/reports/:file', { onRequest: readOne }, async (req, reply) => {
    const wantsMarkdown = req.params.file.endsWith('.md');
    const id = wantsMarkdown ? req.params.file.slice(0, -3) : req.params.file;
    const report = triageIdPattern.test(id) ? await service.getReport(id) : undefined;
    if (!report) {
      const triage = triageIdPattern.test(id) ? await service.getTriage(id) : undefined;
      const message = triage ? `triage ${id} has no report (it is ${triage.status}${triage.verdict ? `: ${triage.verdict.summary}` : ''})` : 'no report with this id';
      return reply.code(404).type('text/plain; charset=utf-8').send(`${message}\n`);
    }
    // Reports name processes, users and paths: no caching anywhere on the way, no referrer to other sites.
    reply.header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').header('cache-control', 'private, no-store');
    if (wantsMarkdown) return reply.type('text/markdown; charset=utf-8').send(report.markdown);
    const { triage, analysis } = report;
    const html = renderReportPage({
      title: `${triage.node}: ${triage.verdict?.summary ?? triage.status}`,
      node: triage.node,
      status: triage.status,
      verdictKind: triage.verdict?.kind ?? triage.status,
      body: withChartAfter(
        withChart(markdownToHtml(report.markdown), analysis ? majfltChart(analysis) + hotRegionsChart(analysis) : ''),
        'Major faults before the triage',
        historyChart(triage.context?.prometheus, {
          ...(triage.trigger.kind === 'alert' ? { alertStartsAt: triage.trigger.startsAt } : {}),
          ...(triage.startedAt ? { triageStartedAt: triage.startedAt } : {}),
          ...(triage.finishedAt ? { triageFinishedAt: triage.finishedAt } : {}),
        }),
      ),
      markdownUrl: `${id}.md${signedQuery(token, id)}`,
      triageUrl: `../triages/${id}${signedQuery(token, id)}`,
      createdAt: triage.createdAt.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC'),
      indexUrl: '../',
      previous: previousOf(triage.context?.history[0]?.id),
    });
    return reply.header('content-security-policy', CSP).type('text/html; charset=utf-8').send(html);
  });
};
