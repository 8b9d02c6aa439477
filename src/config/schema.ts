import { z } from 'zod';

/** Configuration schema: the contract in design.md, plus a few bounded knobs with safe defaults. */

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
  })
  .superRefine((node, ctx) => {
    if (node.local && node.ssh) ctx.addIssue({ code: 'custom', message: 'a node is either local: true or has ssh, not both' });
    if (!node.local && !node.ssh) ctx.addIssue({ code: 'custom', message: 'a node needs ssh settings or local: true' });
  });

export const tracerChoice = z.enum(['auto', 'perf', 'bpftrace', 'tracepoint', 'none']);

export const playbookSchema = z.strictObject({
  sampleSeconds: seconds(5, 60),
  captureSeconds: seconds(5, 60),
  topProcesses: z.number().int().min(1).max(50).default(5),
  tracer: tracerChoice.default('auto'),
  /**
   * `overlapped` (default): the tracer runs system-wide from the start of the rank window, so the verdict comes
   * after max(sampleSeconds, captureSeconds). `sequential`: rank first, then trace the top processes only, for
   * nodes where a system-wide trace is not allowed; the verdict comes after both windows.
   */
  mode: z.enum(['overlapped', 'sequential']).default('overlapped'),
  /** Slack on top of the configured windows before the bot gives up on a node. */
  deadlineSlackSeconds: seconds(20, 600),
  /** Cap on what the bot reads back from one playbook step, so a flood cannot exhaust memory. */
  maxOutputBytes: z.number().int().min(64 * 1024).max(512 * 1024 * 1024).default(32 * 1024 * 1024),
});

export const serverSchema = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(9095),
  publicUrl: z.url().optional(),
  webhookToken: z.string().min(16, 'webhookToken must be at least 16 characters').optional(),
  bodyLimitBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  /**
   * Optional. When set, reading triages and reports needs `Authorization: Bearer <reportToken>`, or a link the bot
   * signed with it (`?sig=`, what Slack and reportUrl carry). Unset: a triage's 128-bit id is its capability, and
   * only loopback clients may list triages. See SECURITY.md.
   */
  reportToken: z.string().min(16, 'reportToken must be at least 16 characters').optional(),
  /** Requests per client address and window on POST /alerts, and in all on /slack/*; past it: 429 with Retry-After. */
  rateLimit: z
    .strictObject({
      windowSeconds: z.number().int().min(1).max(3600).default(60),
      alerts: z.number().int().min(1).max(1_000_000).default(300),
      slack: z.number().int().min(1).max(1_000_000).default(120),
    })
    .default(() => ({ windowSeconds: 60, alerts: 300, slack: 120 })),
  /** A client must send its request headers within this time (slowloris). */
  headersTimeoutSeconds: z.number().int().min(1).max(300).default(10),
  /** A client must send its whole request (headers and body) within this time. */
  requestTimeoutSeconds: z.number().int().min(1).max(600).default(30),
  /** An idle keep-alive connection is closed after this time. */
  keepAliveTimeoutSeconds: z.number().int().min(1).max(600).default(5),
});

export const storageSchema = z.strictObject({
  path: z.string().default('./data'),
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

export const slackSchema = z.strictObject({
  token: z.string().min(1),
  signingSecret: z.string().min(1),
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
  retry: slackRetrySchema.default(() => slackRetrySchema.parse({})),
});

export const configSchema = z.strictObject({
  server: serverSchema.default(() => serverSchema.parse({})),
  storage: storageSchema.default(() => storageSchema.parse({})),
  slack: slackSchema.optional(),
  playbook: playbookSchema.default(() => playbookSchema.parse({})),
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
    })
    .default(() => ({
      alertnames: ['NodeMemoryMajorPagesFaults'],
      cooldownSeconds: 600,
      maxConcurrent: 8,
      maxQueued: 1000,
      shutdownGraceSeconds: 30,
      requeueMaxAgeSeconds: 600,
    })),
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
export type JumpHostConfig = z.infer<typeof jumpHostSchema>;
export type PlaybookConfig = z.infer<typeof playbookSchema>;
export type TracerChoice = z.infer<typeof tracerChoice>;
export type SlackConfig = z.infer<typeof slackSchema>;
