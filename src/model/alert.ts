/**
 * A resolved alert for a node the inventory knows, as the notifier needs it: which firing it ends (fingerprint
 * and startsAt, as Alertmanager sends them), and what became of the triages it started.
 */
export interface ResolvedAlert {
  node: string;
  fingerprint: string;
  startsAt: string;
  alertname: string;
  instance: string | null;
  /** When it resolved (RFC 3339). */
  endsAt: string;
  /** Its queued triages that were cancelled and will not run. */
  cancelled: readonly string[];
  /** The newest triage this firing started on the node, if any, and its status now. */
  triage: { id: string; status: 'queued' | 'running' | 'done' | 'failed' } | null;
}
