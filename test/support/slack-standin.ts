/**
 * A Slack-compatible stand-in for tests: an HTTP server that answers the Web API methods the bot
 * uses as Slack does (chat.postMessage with `metadata`, chat.update, conversations.history and
 * conversations.replies with `include_all_metadata`, auth.test for the bot and the app token,
 * apps.connections.open for Socket Mode), takes response_url posts, records every call (failed ones
 * too), and can be told to fail: 5xx, 429 with Retry-After, `ok:false` errors, a call that never
 * answers, a call that succeeds but answers late, or a whole outage. The bot reaches it through
 * `slack.apiUrl` (WebClient's slackApiUrl). The Socket Mode side (the WebSocket) is
 * socket-standin.ts, which attaches to this server.
 *
 * Message `ts` values are real time (seconds.sequence), so `oldest` windows computed from the clock work.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandinCall {
  method: string;
  /** Form fields as the bot sent them, with `blocks` decoded from JSON. */
  args: Record<string, unknown>;
  /** Date.now() when the call arrived. */
  at: number;
  status: number;
  response: Record<string, unknown> | string;
}

export interface MessageMetadata {
  event_type: string;
  event_payload: Record<string, unknown>;
}

export interface StandinMessage {
  channel: string;
  ts: string;
  threadTs: string | null;
  text: string;
  blocks: unknown[];
  updates: number;
  /** What chat.postMessage got as `metadata` (chat.update may replace it), or null. */
  metadata: MessageMetadata | null;
}

/** Who the stand-in's tokens belong to (what auth.test answers). */
export const STANDIN_IDENTITY = { team: 'Stand-in', team_id: 'T0STANDIN', user: 'pagefault-triage', user_id: 'U0STANDINBOT', bot_id: 'B0STANDINBOT', app_id: 'A0STANDINAPP' } as const;

export interface StandinResponse {
  url: string;
  body: Record<string, unknown>;
  at: number;
}

/**
 * How to answer one call instead of the normal answer. `delayMs`: the call takes effect at once (the
 * message is posted) but the answer comes only after that many ms, as when Slack is slow or the answer
 * is lost; `hang`: the call is recorded, takes no effect and is never answered.
 */
export type Fault = { status: 500 | 502 | 503 } | { status: 429; retryAfter: number } | { error: string } | { hang: true } | { delayMs: number };

/** Answers apps.connections.open (socket-standin.ts): `{ok, url}`, or 'down' for an HTTP 503. */
export type ConnectionsOpen = () => Record<string, unknown> | 'down';

export class SlackStandin {
  readonly token: string;
  /** The app-level token (`xapp-…`) that apps.connections.open accepts. */
  readonly appToken: string;
  readonly calls: StandinCall[] = [];
  readonly responses: StandinResponse[] = [];
  readonly messages = new Map<string, StandinMessage>();
  private server!: Server;
  private base = '';
  private faults: { fault: Fault; method: string | undefined }[] = [];
  private connectionsOpen: ConnectionsOpen | null = null;
  private readonly closers: (() => Promise<void>)[] = [];
  private outage: Fault | null = null;
  private readonly missing = new Set<string>();
  private seq = 0;

  private constructor(token: string, appToken: string) {
    this.token = token;
    this.appToken = appToken;
  }

  static async start(token = 'xoxb-standin-token', opts: { appToken?: string } = {}): Promise<SlackStandin> {
    const s = new SlackStandin(token, opts.appToken ?? 'xapp-1-A0STANDINAPP-1-standin');
    s.server = createServer((req, res) => void s.handle(req, res));
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.base = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
  }

  get url(): string {
    return this.base;
  }

  /** The HTTP server itself, for the Socket Mode side to take WebSocket upgrades on the same port. */
  get httpServer(): Server {
    return this.server;
  }

  /** Set by socket-standin.ts; until then apps.connections.open answers `ok:false`. */
  onConnectionsOpen(fn: ConnectionsOpen | null): void {
    this.connectionsOpen = fn;
  }

  /** What goes into `slack.apiUrl`. */
  get apiUrl(): string {
    return `${this.base}/api/`;
  }

  /** A response_url as Slack would give one (it points back here). */
  responseUrl(name = 'r1'): string {
    return `${this.base}/respond/${name}`;
  }

  /**
   * The next `n` API calls (of `method`, when given) get this answer, then normal service resumes.
   * Without `method`, apps.connections.open is never the one: Socket Mode has its own controls.
   */
  failNext(n: number, fault: Fault, method?: string): void {
    for (let i = 0; i < n; i++) this.faults.push({ fault, method });
  }

  /** Every API call (apps.connections.open too, as in a real Slack outage) gets this answer until `up()`. */
  down(fault: Fault = { status: 500 }): void {
    this.outage = fault;
  }

  up(): void {
    this.outage = null;
  }

  /** Posting to this channel answers channel_not_found, as Slack does for a channel that does not exist. */
  missingChannel(channel: string): void {
    this.missing.add(channel);
  }

  /** The channel's messages as Slack keeps them, oldest first (thread replies included). */
  messagesIn(channel: string): StandinMessage[] {
    return [...this.messages.values()].filter((m) => m.channel === channel).sort((a, b) => compareTs(a.ts, b.ts));
  }

  callsOf(method: string): StandinCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Calls Slack answered with ok:true. */
  okCalls(method?: string): StandinCall[] {
    return this.calls.filter((c) => (method === undefined || c.method === method) && typeof c.response === 'object' && c.response.ok === true);
  }

  async waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = probe();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline) throw new Error(`stand-in: timed out after ${timeoutMs} ms waiting for ${what}; calls: ${this.calls.map((c) => `${c.method}→${c.status}${typeof c.response === 'object' && c.response.error ? `:${String(c.response.error)}` : ''}`).join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Runs `fn` first when the stand-in closes (the Socket Mode side ends its upgraded sockets there). */
  beforeClose(fn: () => Promise<void>): void {
    this.closers.push(fn);
  }

  async close(): Promise<void> {
    for (const fn of this.closers.splice(0)) await fn();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const path = (req.url ?? '/').split('?')[0]!;

    if (path.startsWith('/respond/')) {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        /* recorded as empty */
      }
      this.responses.push({ url: `${this.base}${path}`, body, at: Date.now() });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }

    const m = /^\/api\/([\w.]+)$/.exec(path);
    const method = m?.[1] ?? path;
    const args = parseArgs(req.headers['content-type'], raw);
    const call: StandinCall = { method, args, at: Date.now(), status: 200, response: '' };
    this.calls.push(call);

    const fault = this.outage ?? this.takeFault(method);
    if (fault && 'hang' in fault) return; // never answers: the client's timeout must end it
    if (fault && 'status' in fault) {
      call.status = fault.status;
      if (fault.status === 429) {
        call.response = { ok: false, error: 'ratelimited' };
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(fault.retryAfter) }).end(JSON.stringify(call.response));
      } else {
        call.response = 'upstream trouble';
        res.writeHead(fault.status, { 'content-type': 'text/plain' }).end(call.response);
      }
      return;
    }
    if (fault && 'error' in fault) {
      call.response = { ok: false, error: fault.error };
    } else if (method === 'apps.connections.open') {
      const open = this.answerConnectionsOpen(req.headers.authorization);
      if (open === 'down') {
        call.status = 503;
        call.response = 'socket mode is down';
        res.writeHead(503, { 'content-type': 'text/plain' }).end(call.response);
        return;
      }
      call.response = open;
    } else {
      call.response = this.answer(method, args, req.headers.authorization);
    }
    const body = JSON.stringify(call.response);
    const send = (): void => {
      if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(body);
    };
    if (fault && 'delayMs' in fault) setTimeout(send, fault.delayMs).unref();
    else send();
  }

  private takeFault(method: string): Fault | undefined {
    const i = this.faults.findIndex((f) => (f.method === undefined ? method !== 'apps.connections.open' : f.method === method));
    return i < 0 ? undefined : this.faults.splice(i, 1)[0]!.fault;
  }

  /** Only an app-level token opens a socket; a bot token is the wrong kind, as at Slack. */
  private answerConnectionsOpen(authorization: string | undefined): Record<string, unknown> | 'down' {
    if (authorization === `Bearer ${this.token}`) return { ok: false, error: 'not_allowed_token_type' };
    if (authorization !== `Bearer ${this.appToken}`) return { ok: false, error: authorization ? 'invalid_auth' : 'not_authed' };
    return this.connectionsOpen ? this.connectionsOpen() : { ok: false, error: 'socket_mode_not_enabled' };
  }

  /** What Slack answers, for the methods the bot uses. */
  private answer(method: string, args: Record<string, unknown>, authorization: string | undefined): Record<string, unknown> {
    if (method === 'auth.test') return this.authTest(authorization);
    if (authorization !== `Bearer ${this.token}`) return { ok: false, error: authorization ? 'invalid_auth' : 'not_authed' };
    const channel = typeof args.channel === 'string' ? args.channel : '';
    if (channel === '') return { ok: false, error: 'channel_not_found' };
    if (this.missing.has(channel)) return { ok: false, error: 'channel_not_found' };
    const text = typeof args.text === 'string' ? args.text : '';
    const blocks = Array.isArray(args.blocks) ? args.blocks : [];
    switch (method) {
      case 'chat.postMessage': {
        this.seq++;
        const ts = `${Math.floor(Date.now() / 1000)}.${String(this.seq).padStart(6, '0')}`;
        const threadTs = typeof args.thread_ts === 'string' ? args.thread_ts : null;
        const msg: StandinMessage = { channel, ts, threadTs, text, blocks, updates: 0, metadata: metadataOf(args.metadata) };
        this.messages.set(`${channel}/${ts}`, msg);
        return { ok: true, channel, ts, message: this.asSlackMessage(msg, false) };
      }
      case 'chat.update': {
        const ts = typeof args.ts === 'string' ? args.ts : '';
        const msg = this.messages.get(`${channel}/${ts}`);
        if (!msg) return { ok: false, error: 'message_not_found' };
        msg.text = text;
        msg.blocks = blocks;
        msg.metadata = metadataOf(args.metadata) ?? msg.metadata;
        msg.updates++;
        return { ok: true, channel, ts, text };
      }
      case 'conversations.history':
        return this.history(channel, args);
      case 'conversations.replies':
        return this.replies(channel, args);
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  /** auth.test: the bot token answers as the bot user; the app token as the app (no user). */
  private authTest(authorization: string | undefined): Record<string, unknown> {
    const { team, team_id, user, user_id, bot_id, app_id } = STANDIN_IDENTITY;
    const common = { ok: true, url: 'https://standin.slack.example/', team, team_id, is_enterprise_install: false };
    if (authorization === `Bearer ${this.token}`) return { ...common, user, user_id, bot_id };
    if (authorization === `Bearer ${this.appToken}`) return { ...common, app_id };
    return { ok: false, error: authorization ? 'invalid_auth' : 'not_authed' };
  }

  /** conversations.history: top-level messages newest first, `oldest`/`latest` exclusive unless `inclusive`. */
  private history(channel: string, args: Record<string, unknown>): Record<string, unknown> {
    const withMetadata = isTrue(args.include_all_metadata);
    const inWindow = windowOf(args);
    const limit = Math.min(Math.max(Number(args.limit ?? 100) || 100, 1), 999);
    const all = this.messagesIn(channel)
      .filter((m) => m.threadTs === null || m.threadTs === m.ts)
      .filter((m) => inWindow(m.ts))
      .reverse();
    const page = all.slice(0, limit);
    return { ok: true, messages: page.map((m) => this.asSlackMessage(m, withMetadata)), has_more: all.length > limit, pin_count: 0, response_metadata: { next_cursor: '' } };
  }

  /** conversations.replies: the parent then its replies, oldest first. */
  private replies(channel: string, args: Record<string, unknown>): Record<string, unknown> {
    const parentTs = typeof args.ts === 'string' ? args.ts : '';
    const parent = this.messages.get(`${channel}/${parentTs}`);
    if (!parent) return { ok: false, error: 'thread_not_found' };
    const withMetadata = isTrue(args.include_all_metadata);
    const inWindow = windowOf(args);
    const limit = Math.min(Math.max(Number(args.limit ?? 1000) || 1000, 1), 1000);
    const thread = this.messagesIn(channel).filter((m) => m.ts === parentTs || (m.threadTs === parentTs && inWindow(m.ts)));
    return { ok: true, messages: thread.slice(0, limit).map((m) => this.asSlackMessage(m, withMetadata)), has_more: thread.length > limit, response_metadata: { next_cursor: '' } };
  }

  /** A message as Slack's read methods show it; `metadata` only when asked for, as at Slack. */
  private asSlackMessage(m: StandinMessage, withMetadata: boolean): Record<string, unknown> {
    const replies = [...this.messages.values()].filter((r) => r.channel === m.channel && r.threadTs === m.ts && r.ts !== m.ts);
    return {
      type: 'message',
      user: STANDIN_IDENTITY.user_id,
      bot_id: STANDIN_IDENTITY.bot_id,
      app_id: STANDIN_IDENTITY.app_id,
      text: m.text,
      ts: m.ts,
      blocks: m.blocks,
      ...(m.threadTs ? { thread_ts: m.threadTs } : replies.length > 0 ? { thread_ts: m.ts } : {}),
      ...(replies.length > 0 ? { reply_count: replies.length } : {}),
      ...(withMetadata && m.metadata ? { metadata: m.metadata } : {}),
    };
  }
}

/** Compares Slack timestamps ("seconds.micros"; `oldest` may come with fewer fraction digits). */
function compareTs(a: string, b: string): number {
  const parse = (ts: string): [number, number] => {
    const [sec = '0', frac = ''] = ts.split('.');
    return [Number(sec), Number(frac.padEnd(6, '0').slice(0, 6))];
  };
  const [as, af] = parse(a);
  const [bs, bf] = parse(b);
  return as - bs || af - bf;
}

function isTrue(v: unknown): boolean {
  return v === true || v === 'true' || v === '1' || v === 1;
}

/** The `oldest`/`latest`/`inclusive` window of a read method. */
function windowOf(args: Record<string, unknown>): (ts: string) => boolean {
  const inclusive = isTrue(args.inclusive);
  const oldest = args.oldest === undefined || args.oldest === '' ? null : String(args.oldest);
  const latest = args.latest === undefined || args.latest === '' ? null : String(args.latest);
  return (ts) => {
    if (oldest !== null) {
      const c = compareTs(ts, oldest);
      if (c < 0 || (c === 0 && !inclusive)) return false;
    }
    if (latest !== null) {
      const c = compareTs(ts, latest);
      if (c > 0 || (c === 0 && !inclusive)) return false;
    }
    return true;
  };
}

function metadataOf(v: unknown): MessageMetadata | null {
  if (typeof v !== 'object' || v === null) return null;
  const m = v as Record<string, unknown>;
  if (typeof m.event_type !== 'string' || typeof m.event_payload !== 'object' || m.event_payload === null) return null;
  return { event_type: m.event_type, event_payload: m.event_payload as Record<string, unknown> };
}

function parseArgs(contentType: string | undefined, raw: string): Record<string, unknown> {
  let args: Record<string, unknown>;
  if (contentType?.includes('application/json')) {
    args = JSON.parse(raw || '{}') as Record<string, unknown>;
  } else {
    args = Object.fromEntries(new URLSearchParams(raw));
  }
  for (const key of ['blocks', 'attachments', 'unfurl_links', 'unfurl_media', 'metadata']) {
    const v = args[key];
    if (typeof v === 'string') {
      try {
        args[key] = JSON.parse(v);
      } catch {
        /* left as text */
      }
    }
  }
  return args;
}
