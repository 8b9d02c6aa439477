import { z } from 'zod';
import { tierRequestSchema } from '../model/facts.js';
import { WINDOW_SECONDS } from '../model/limits.js';

/**
 * Configuration schema: the documented keys (README, Configuration), plus a few bounded knobs with safe defaults.
 * A block that is left out gets the defaults of its keys (`prefault({})` runs the block's own schema on `{}`).
 */

const seconds = (def: number, max: number) => z.number().int().min(1).max(max).default(def);

// Node names reach the shell only as inventory entries, but they also appear in URLs and Slack
// commands: keep them to a conservative alphabet.
export const nodeName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'node names are 1-63 characters of A-Z a-z 0-9 . _ -');

const hostKey = z
  .string()
  .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'a host key is "SHA256:" and 43 base64 characters, as `ssh-keygen -lf` prints it');

const hostName = z.string().min(1).regex(/^[A-Za-z0-9.:_\-[\]]+$/, 'a host is a DNS name or an IP address');
const userName = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'a user is a POSIX user name');

export const jumpHostSchema = z.strictObject({
  host: hostName,
  port: z.number().int().min(1).max(65535).default(22),
  user: userName,
  privateKeyPath: z.string().min(1).optional(),
  hostKey,
});

export const sshSchema = z.strictObject({
  host: hostName,
  port: z.number().int().min(1).max(65535).default(22),
  user: userName,
  privateKeyPath: z.string().min(1),
  passphrase: z.string().optional(),
  hostKey,
  sudo: z.boolean().default(false),
  /**
   * `stdin` sends the playbook on stdin to `sh -s` (nothing to install; through sudo that needs a sudoers rule for
   * `timeout`, which is a root shell). `installed` runs the root-owned copy under /usr/local/lib/pagefault-triage
   * (scripts/setup-node.sh), so sudoers can allow that one file and nothing else. Default: stdin. See SECURITY.md.
   */
  playbook: z.enum(['stdin', 'installed']).optional(),
  jumpHost: jumpHostSchema.optional(),
  connectTimeoutSeconds: seconds(10, 120),
  keepaliveSeconds: seconds(5, 60),
});

const labelSet = z.record(z.string(), z.string()).refine((m) => Object.keys(m).length > 0, 'a match label set needs at least one label');

// Label names appear unquoted in PromQL: only Prometheus's own alphabet. Values are always escaped.
const promLabelSet = z
  .record(z.string(), z.string())
  .refine((m) => Object.keys(m).length > 0, 'a selector needs at least one label')
  .superRefine((m, ctx) => {
    for (const k of Object.keys(m)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
        ctx.addIssue({ code: 'custom', path: [k], message: 'a Prometheus label name is A-Z a-z 0-9 _ and does not start with a digit' });
      }
    }
  });

/** Per node: which Prometheus series are this node's, for triages not started by an alert (alerts bring their own labels). */
export const nodePrometheusSchema = z.strictObject({ selector: promLabelSet });

export const nodeSchema = z
  .strictObject({
    name: nodeName,
    /** Label sets: the node matches an alert when every label of any one set is equal. A single set may be written without the list. */
    match: z
      .union([labelSet, z.array(labelSet).min(1)])
      .transform((m) => (Array.isArray(m) ? m : [m]))
      .optional(),
    local: z.boolean().optional(),
    ssh: sshSchema.optional(),
    prometheus: nodePrometheusSchema.optional(),
  })
  .superRefine((node, ctx) => {
    if (node.local && node.ssh) ctx.addIssue({ code: 'custom', message: 'a node is either local: true or has ssh, not both' });
    if (!node.local && !node.ssh) ctx.addIssue({ code: 'custom', message: 'a node needs ssh settings or local: true' });
  });

/** A timed window: whole seconds within the bounds every entry point shares. */
const windowSeconds = (def: number) => z.number().int().min(WINDOW_SECONDS.min).max(WINDOW_SECONDS.max).default(def);

export const playbookSchema = z.strictObject({
  sampleSeconds: windowSeconds(5),
  captureSeconds: windowSeconds(5),
  topProcesses: z.number().int().min(1).max(50).default(5),
  tracer: tierRequestSchema.default('auto'),
  /**
   * `sequential` (default): rank first, then trace the top processes only; the verdict comes after both windows.
   * `overlapped`: the tracer runs system-wide from the start of the rank window, so the verdict comes after
   * max(sampleSeconds, captureSeconds); on an idle node with short windows the tracer's own start-up faults land
   * in the rank window and can lift it over the quiet bound, which is why it is not the default yet.
   */
  mode: z.enum(['overlapped', 'sequential']).default('sequential'),
  /** Slack on top of the configured windows before the bot gives up on a node. */
  deadlineSlackSeconds: seconds(20, 600),
  /** Cap on what the bot reads back from one playbook step, so a flood cannot exhaust memory. */
  maxOutputBytes: z.number().int().min(64 * 1024).max(512 * 1024 * 1024).default(32 * 1024 * 1024),
});

/** A bearer token travels in an HTTP header: printable ASCII without whitespace, or it could never match. */
const bearerToken = (key: string) =>
  z
    .string()
    .min(16, `${key} must be at least 16 characters`)
    .regex(/^[\x21-\x7e]+$/, `${key} must be printable ASCII without whitespace (it is sent in an Authorization header)`);

/** What Slack issues as an app's signing secret (Basic Information, App Credentials): 32 hexadecimal characters. */
const slackSigningSecret = z
  .string()
  .regex(/^[0-9a-f]{32}$/i, "a signing secret is 32 hexadecimal characters, as Slack shows it under the app's Basic Information");

export const serverSchema = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(9095),
  publicUrl: z.url().optional(),
  webhookToken: bearerToken('webhookToken').optional(),
  bodyLimitBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  /**
   * Optional. When set, reading triages and reports needs `Authorization: Bearer <reportToken>`, or a link the bot
   * signed with it (`?sig=`, what Slack and reportUrl carry). Unset: a triage's 128-bit id is its capability, and
   * only loopback clients may list triages. See SECURITY.md.
   */
  reportToken: bearerToken('reportToken').optional(),
  /**
   * Requests per client address and window. POST /alerts: `alerts` counts requests with the webhook token (all of
   * them without one; past it 503 + Retry-After, which Alertmanager retries), `unauthorized` those failing the
   * token check (past it 429), so junk from a shared address never limits Alertmanager. /slack/*: `slack` (429).
   */
  rateLimit: z
    .strictObject({
      windowSeconds: z.number().int().min(1).max(3600).default(60),
      alerts: z.number().int().min(1).max(1_000_000).default(300),
      unauthorized: z.number().int().min(1).max(1_000_000).default(60),
      slack: z.number().int().min(1).max(1_000_000).default(120),
    })
    .prefault({}),
  /** A client must send its request headers within this time (slowloris). */
  headersTimeoutSeconds: z.number().int().min(1).max(300).default(10),
  /** A client must send its whole request (headers and body) within this time. */
  requestTimeoutSeconds: z.number().int().min(1).max(600).default(30),
  /** An idle keep-alive connection is closed after this time. */
  keepAliveTimeoutSeconds: z.number().int().min(1).max(600).default(5),
});

export const storageSchema = z.strictObject({
  /** The embedded SQLite store's directory: the default, for one process. Ignored when `url` is set. */
  path: z.string().default('./data'),
  /**
   * postgres://user:pass@host:5432/db (or postgresql://): all state in PostgreSQL ≥ 13, shared by every replica
   * pointing at it. Usually `${PFT_DATABASE_URL}`.
   */
  url: z
    .string()
    .regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  /** Triages (with their reports and evidence) older than this are deleted by a scheduled cleanup. */
  retentionDays: z.number().int().min(1).max(3650).default(30),
  /**
   * Cap on the raw evidence (TriageResult JSON) stored per triage, and separately on its Markdown report. Past it
   * the largest lists are trimmed and the stored record says what was cut.
   */
  maxEvidenceBytes: z.number().int().min(64 * 1024).max(256 * 1024 * 1024).default(2 * 1024 * 1024),
});

/** How the Slack outbox retries 5xx, network errors and 429s (fractions of a second allowed, for tests). */
export const slackRetrySchema = z.strictObject({
  /** First wait after a failed call; doubles on each failure. */
  initialSeconds: z.number().min(0.01).max(600).default(2),
  maxSeconds: z.number().min(0.01).max(3600).default(300),
  /** A call still failing this long after it was queued is given up and reported on the triage. */
  giveUpAfterSeconds: z.number().min(1).max(7 * 86400).default(86400),
});

/** Slack's token kinds by prefix: the bot token (xoxb-) posts, the app-level token (xapp-) opens Socket Mode. */
const tokenKind = (t: string): string => (/^xox[a-z]-/.test(t) ? `a ${t.slice(0, 5)}… token` : /^xapp-/.test(t) ? 'an app-level token (xapp-…)' : 'not a Slack token');

export const slackSchema = z.strictObject({
  /** The Bot User OAuth Token (xoxb-…): every message the bot posts. */
  token: z.string().min(1),
  /**
   * Signs the HTTP requests to /slack/commands and /slack/interactions. Required without Socket Mode; with it,
   * the HTTP Slack routes are off unless this is set.
   */
  signingSecret: slackSigningSecret.optional(),
  /**
   * An app-level token (xapp-…, scope connections:write): turns on Socket Mode, where commands and buttons
   * arrive over an outbound WebSocket and the bot needs no inbound endpoint.
   */
  appToken: z.string().min(1).optional(),
  /** Socket Mode: the longest wait between two attempts to reconnect (the wait doubles from 1 s up to this). */
  socketReconnectMaxSeconds: z.number().min(0.1).max(600).default(30),
  channel: z.string().min(1),
  apiUrl: z.url().default('https://slack.com/api/'),
  allowedUsers: z.array(z.string()).default([]),
  /** The slash command as installed from config/slack-app-manifest.yaml; help texts name it. */
  command: z
    .string()
    .regex(/^\/[a-z0-9_-]{1,31}$/, 'a slash command is "/" and 1-31 characters of a-z 0-9 _ -')
    .default('/pagefault'),
  /** One Slack API call's time limit. */
  requestTimeoutSeconds: z.number().min(0.1).max(120).default(10),
  retry: slackRetrySchema.prefault({}),
}).superRefine((slack, ctx) => {
  if (slack.appToken !== undefined && !slack.appToken.startsWith('xapp-')) {
    ctx.addIssue({
      code: 'custom',
      path: ['appToken'],
      message: `slack.appToken must be an app-level token (xapp-…, with connections:write, from the app's Basic Information page); this is ${tokenKind(slack.appToken)}${slack.appToken.startsWith('xoxb-') ? ': the bot token (xoxb-…) belongs in slack.token' : ''}`,
    });
  }
  if (slack.token.startsWith('xapp-')) {
    ctx.addIssue({
      code: 'custom',
      path: ['token'],
      message: 'slack.token must be the Bot User OAuth Token (xoxb-…); this is an app-level token (xapp-…), which belongs in slack.appToken',
    });
  }
  if (slack.appToken === undefined && slack.signingSecret === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['signingSecret'],
      message: 'Slack needs a way in: set slack.appToken (xapp-…) for Socket Mode (no inbound endpoint), or slack.signingSecret for the HTTP routes /slack/commands and /slack/interactions',
    });
  }
});

/**
 * Optional: the node's history from Prometheus's HTTP API for the report. Without it nothing is queried.
 * Credentials go in bearerToken or basicAuth, never in the URL, so the URL can be logged and shown.
 */
export const prometheusSchema = z
  .strictObject({
    url: z
      .url()
      .refine((u) => /^https?:$/.test(new URL(u).protocol), 'prometheus.url must be http:// or https://')
      .refine((u) => new URL(u).username === '' && new URL(u).password === '', 'put credentials in prometheus.basicAuth, not in the URL'),
    bearerToken: z.string().min(1).optional(),
    basicAuth: z.strictObject({ username: z.string().min(1), password: z.string() }).optional(),
    lookbackMinutes: z.number().int().min(1).max(24 * 60).default(60),
    /** One limit for all queries of a triage together; the triage never waits longer for Prometheus. */
    timeoutSeconds: z.number().min(0.1).max(60).default(3),
    /** The `[…]` window of rate(); 4 scrape intervals is the usual choice (60 s for a 15 s scrape). */
    rateWindowSeconds: z.number().int().min(1).max(3600).default(60),
  })
  .refine((p) => !(p.bearerToken && p.basicAuth), 'prometheus takes bearerToken or basicAuth, not both');

export const configSchema = z.strictObject({
  server: serverSchema.prefault({}),
  storage: storageSchema.prefault({}),
  slack: slackSchema.optional(),
  prometheus: prometheusSchema.optional(),
  playbook: playbookSchema.prefault({}),
  triage: z
    .strictObject({
      alertnames: z.array(z.string().min(1)).min(1).default(['NodeMemoryMajorPagesFaults']),
      cooldownSeconds: z.number().int().min(0).max(86400).default(600),
      maxConcurrent: z.number().int().min(1).max(256).default(8),
      maxQueued: z.number().int().min(1).max(100000).default(1000),
      /** On shutdown, running triages get this long to finish before they are marked interrupted. */
      shutdownGraceSeconds: z.number().int().min(0).max(3600).default(30),
      /** On start, triages a previous process left queued are run if younger than this, else marked interrupted (0: never run). */
      requeueMaxAgeSeconds: z.number().int().min(0).max(86400).default(600),
      /**
       * A running triage is held by a lease its replica renews every leaseSeconds / 3; when a replica stops
       * (killed, cut off), another takes the triage over once the lease is this old.
       */
      leaseSeconds: z.number().int().min(1).max(600).default(15),
    })
    .prefault({}),
  nodes: z
    .array(nodeSchema)
    .min(1)
    .superRefine((nodes, ctx) => {
      const seen = new Set<string>();
      nodes.forEach((n, i) => {
        if (seen.has(n.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate node name "${n.name}"` });
        seen.add(n.name);
      });
    }),
});

export type Config = z.infer<typeof configSchema>;
export type NodeConfig = z.infer<typeof nodeSchema>;
export type SshConfig = z.infer<typeof sshSchema>;
export type SlackConfig = z.infer<typeof slackSchema>;
export type PrometheusConfig = z.infer<typeof prometheusSchema>;
