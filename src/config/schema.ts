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
});

export const slackSchema = z.strictObject({
  token: z.string().min(1),
  signingSecret: z.string().min(1),
  channel: z.string().min(1),
  apiUrl: z.url().default('https://slack.com/api/'),
  allowedUsers: z.array(z.string()).default([]),
});

export const configSchema = z.strictObject({
  server: serverSchema.default(() => serverSchema.parse({})),
  storage: z
    .strictObject({ path: z.string().default('./data'), retentionDays: z.number().int().min(1).max(3650).default(30) })
    .default(() => ({ path: './data', retentionDays: 30 })),
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
