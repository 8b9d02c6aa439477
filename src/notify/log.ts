import type { Log } from '../log.js';
import type { Notifier } from './notifier.js';

/** The notifier without Slack: verdicts go to the log (and are in the store already). */
export function createLogNotifier(log: Log): Notifier {
  return {
    // The service logs the lifecycle itself; this notifier only adds what Slack would post.
    async triageStarted() {},
    async triageFinished({ view: t, reportUrl: signedUrl }) {
      // Not the signature: whoever reads the log could reuse it. With server.reportToken, open it with the token.
      const reportUrl = signedUrl === null ? null : (signedUrl.split('?', 1)[0] ?? null);
      log.info(
        { triageId: t.id, node: t.node, verdict: t.verdict?.kind ?? null, reportUrl },
        `verdict for ${t.node}: ${t.verdict?.summary ?? t.status}${reportUrl ? ` (${reportUrl})` : ''}`,
      );
    },
    async alertResolved(alert) {
      log.info({ node: alert.node, fingerprint: alert.fingerprint, cancelled: alert.cancelled }, 'alert resolved');
    },
  };
}
