/**
 * A Slack-compatible stand-in for tests: an HTTP server that answers the Web API methods the bot
 * uses (chat.postMessage, chat.update) as Slack does, takes response_url posts, records every call
 * (failed ones too), and can be told to fail: 5xx, 429 with Retry-After, `ok:false` errors, or a
 * whole outage. The bot reaches it through `slack.apiUrl` (WebClient's slackApiUrl).
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

export interface StandinMessage {
  channel: string;
  ts: string;
  threadTs: string | null;
  text: string;
  blocks: unknown[];
  updates: number;
}

export interface StandinResponse {
  url: string;
  body: Record<string, unknown>;
  at: number;
}

/** How to answer one call instead of the normal answer. */
export type Fault = { status: 500 | 502 | 503 } | { status: 429; retryAfter: number } | { error: string } | { hang: true };

export class SlackStandin {
  readonly token: string;
  readonly calls: StandinCall[] = [];
  readonly responses: StandinResponse[] = [];
  readonly messages = new Map<string, StandinMessage>();
  private server!: Server;
  private base = '';
  private faults: Fault[] = [];
  private outage: Fault | null = null;
  private readonly missing = new Set<string>();
  private seq = 0;

  private constructor(token: string) {
    this.token = token;
  }

  static async start(token = 'xoxb-standin-token'): Promise<SlackStandin> {
    const s = new SlackStandin(token);
    s.server = createServer((req, res) => void s.handle(req, res));
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.base = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
  }

  get url(): string {
    return this.base;
  }

  /** What goes into `slack.apiUrl`. */
  get apiUrl(): string {
    return `${this.base}/api/`;
  }

  /** A response_url as Slack would give one (it points back here). */
  responseUrl(name = 'r1'): string {
    return `${this.base}/respond/${name}`;
  }

  /** The next `n` API calls get this answer (then normal service resumes). */
  failNext(n: number, fault: Fault): void {
    for (let i = 0; i < n; i++) this.faults.push(fault);
  }

  /** Every API call gets this answer until `up()`. */
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

  close(): Promise<void> {
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

    const fault = this.outage ?? this.faults.shift();
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
    call.response = fault ? { ok: false, error: fault.error } : this.answer(method, args, req.headers.authorization);
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(call.response));
  }

  /** What Slack answers, for the methods the bot uses. */
  private answer(method: string, args: Record<string, unknown>, authorization: string | undefined): Record<string, unknown> {
    if (authorization !== `Bearer ${this.token}`) return { ok: false, error: authorization ? 'invalid_auth' : 'not_authed' };
    const channel = typeof args.channel === 'string' ? args.channel : '';
    if (channel === '') return { ok: false, error: 'channel_not_found' };
    if (this.missing.has(channel)) return { ok: false, error: 'channel_not_found' };
    const text = typeof args.text === 'string' ? args.text : '';
    const blocks = Array.isArray(args.blocks) ? args.blocks : [];
    switch (method) {
      case 'chat.postMessage': {
        this.seq++;
        const ts = `${1764212000 + this.seq}.${String(this.seq).padStart(6, '0')}`;
        const threadTs = typeof args.thread_ts === 'string' ? args.thread_ts : null;
        this.messages.set(`${channel}/${ts}`, { channel, ts, threadTs, text, blocks, updates: 0 });
        return { ok: true, channel, ts, message: { type: 'message', text, ts, ...(threadTs ? { thread_ts: threadTs } : {}) } };
      }
      case 'chat.update': {
        const ts = typeof args.ts === 'string' ? args.ts : '';
        const msg = this.messages.get(`${channel}/${ts}`);
        if (!msg) return { ok: false, error: 'message_not_found' };
        msg.text = text;
        msg.blocks = blocks;
        msg.updates++;
        return { ok: true, channel, ts, text };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }
}

function parseArgs(contentType: string | undefined, raw: string): Record<string, unknown> {
  let args: Record<string, unknown>;
  if (contentType?.includes('application/json')) {
    args = JSON.parse(raw || '{}') as Record<string, unknown>;
  } else {
    args = Object.fromEntries(new URLSearchParams(raw));
  }
  for (const key of ['blocks', 'attachments', 'unfurl_links', 'unfurl_media']) {
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
