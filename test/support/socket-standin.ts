/**
 * Slack's Socket Mode side for tests, attached to a SlackStandin (same port), built the way
 * @slack/socket-mode's own tests fake Slack: `apps.connections.open` (app token only) hands out a
 * one-use `ws://127.0.0.1:PORT/link/?ticket=…` URL; a `ws` server sends `hello` on connect, then the
 * envelopes a test sends (`slash_commands`, `interactive`), and records every ack with its payload and
 * arrival time. A test can make it misbehave as Slack does: `disconnect` messages (refresh_requested,
 * warning, too_many_websockets), a socket dropped without a close frame, pongs that stop, an outage that
 * refuses apps.connections.open and new sockets for N seconds, and (opt-in) redelivery of envelopes not
 * acked within 3 s, with `retry_attempt`/`retry_reason` as Slack sets them.
 *
 * Envelopes go to open connections in turn (Slack gives each envelope to one of an app's connections).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { STANDIN_IDENTITY, type SlackStandin } from './slack-standin.js';

export type EnvelopeType = 'slash_commands' | 'interactive' | 'events_api';
export type DisconnectReason = 'refresh_requested' | 'warning' | 'too_many_websockets';

export interface Envelope {
  envelope_id: string;
  type: EnvelopeType;
  payload: Record<string, unknown>;
  accepts_response_payload: boolean;
  retry_attempt: number;
  retry_reason: string;
}

export interface SocketAck {
  envelopeId: string;
  /** What the app put in the ack (`payload`), if anything. */
  payload: Record<string, unknown> | undefined;
  /** Date.now() when the ack arrived. */
  at: number;
  /** ms since the envelope (its latest delivery) was sent. */
  afterMs: number;
  connection: number;
}

export interface Delivery {
  envelope: Envelope;
  connection: number;
  at: number;
}

export interface SocketConnection {
  id: number;
  openedAt: number;
  closedAt: number | null;
  /** Pings the app sent on this connection. */
  pings: number;
  /** Pings the stand-in sent (with `serverPingMs`). */
  serverPings: number;
}

interface Live {
  info: SocketConnection;
  ws: WebSocket;
}

export interface SocketStandinOptions {
  /** Redeliver envelopes not acked within `ackTimeoutMs`, up to `maxRetries` times (Slack's retry). Off by default. */
  retryUnacked?: boolean;
  ackTimeoutMs?: number;
  maxRetries?: number;
  /** Ping the app this often (0 = never, the default), to exercise its serverPingTimeout. */
  serverPingMs?: number;
}

export class SocketStandin {
  readonly acks: SocketAck[] = [];
  readonly deliveries: Delivery[] = [];
  readonly connections: SocketConnection[] = [];
  /** Whatever the app sent that was not an ack of a known envelope (kept to explain failures). */
  readonly strayMessages: unknown[] = [];
  private readonly slack: SlackStandin;
  private readonly wss = new WebSocketServer({ noServer: true, autoPong: false });
  private readonly live = new Map<number, Live>();
  private readonly tickets = new Set<string>();
  private readonly envelopes = new Map<string, { envelope: Envelope; sentAt: number; timer: NodeJS.Timeout | null }>();
  private readonly opts: Required<SocketStandinOptions>;
  private nextId = 0;
  private turn = 0;
  private downUntil = 0;
  private pongs = true;
  private pinger: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => this.upgrade(req, socket, head);

  private constructor(slack: SlackStandin, opts: SocketStandinOptions) {
    this.slack = slack;
    this.opts = { retryUnacked: false, ackTimeoutMs: 3000, maxRetries: 3, serverPingMs: 0, ...opts };
  }

  /** Turns on Socket Mode at `slack`: apps.connections.open and WebSocket upgrades on its port. */
  static attach(slack: SlackStandin, opts: SocketStandinOptions = {}): SocketStandin {
    const s = new SocketStandin(slack, opts);
    slack.onConnectionsOpen(() => s.connectionsOpen());
    slack.httpServer.on('upgrade', s.onUpgrade);
    slack.beforeClose(() => s.close());
    if (s.opts.serverPingMs > 0) {
      s.pinger = setInterval(() => {
        if (!s.pongs) return;
        for (const c of s.live.values()) {
          c.ws.ping();
          c.info.serverPings++;
        }
      }, s.opts.serverPingMs);
    }
    return s;
  }

  /** Connections open now (hello sent, not closed). */
  get openConnections(): number {
    return this.live.size;
  }

  /** Ids of the open connections, oldest first. */
  openIds(): number[] {
    return [...this.live.keys()];
  }

  /** Resolves once at least `n` connections are open (after `since`, a Date.now(), when given). */
  async waitForConnections(n = 1, opts: { since?: number; timeoutMs?: number } = {}): Promise<void> {
    const since = opts.since ?? 0;
    await this.slack.waitFor(`${n} open Socket Mode connection(s)`, () => [...this.live.values()].filter((c) => c.info.openedAt >= since).length >= n, opts.timeoutMs ?? 15_000);
  }

  /**
   * Sends an envelope to one open connection (`to`, or the next in turn). Throws when none is open:
   * a test waits for the connection first.
   */
  send(type: EnvelopeType, payload: Record<string, unknown>, opts: { acceptsResponsePayload?: boolean; envelopeId?: string; to?: number } = {}): Envelope {
    const envelope: Envelope = {
      envelope_id: opts.envelopeId ?? randomUUID(),
      type,
      payload,
      // Slack lets a slash command's ack carry the answer; a button's ack carries nothing.
      accepts_response_payload: opts.acceptsResponsePayload ?? type === 'slash_commands',
      retry_attempt: 0,
      retry_reason: '',
    };
    this.deliver(envelope, opts.to);
    return envelope;
  }

  /** A `/pagefault` slash command as Slack sends it over the socket. */
  slashCommand(fields: { text: string; user_id?: string; user_name?: string; channel_id?: string; command?: string; response_url?: string; trigger_id?: string }, opts: { to?: number; envelopeId?: string } = {}): Envelope {
    return this.send(
      'slash_commands',
      {
        token: 'deprecated-verification-token',
        team_id: STANDIN_IDENTITY.team_id,
        team_domain: 'standin',
        channel_id: fields.channel_id ?? 'C0TRIAGE',
        channel_name: 'triage',
        user_id: fields.user_id ?? 'U0BOSS',
        user_name: fields.user_name ?? 'boss',
        command: fields.command ?? '/pagefault',
        text: fields.text,
        api_app_id: STANDIN_IDENTITY.app_id,
        is_enterprise_install: 'false',
        response_url: fields.response_url ?? this.slack.responseUrl(`sc-${randomUUID().slice(0, 8)}`),
        trigger_id: fields.trigger_id ?? `${Date.now()}.trigger.${randomUUID().slice(0, 8)}`,
      },
      opts,
    );
  }

  /** A block_actions interaction (a button press) as Slack sends it over the socket. */
  blockAction(fields: { actionId: string; value: string; messageTs: string; threadTs?: string; channel_id?: string; user_id?: string; response_url?: string; trigger_id?: string }, opts: { to?: number; envelopeId?: string } = {}): Envelope {
    const channel = fields.channel_id ?? 'C0TRIAGE';
    return this.send(
      'interactive',
      {
        type: 'block_actions',
        user: { id: fields.user_id ?? 'U0BOSS', username: 'boss', name: 'boss', team_id: STANDIN_IDENTITY.team_id },
        api_app_id: STANDIN_IDENTITY.app_id,
        token: 'deprecated-verification-token',
        container: { type: 'message', message_ts: fields.messageTs, channel_id: channel, is_ephemeral: false },
        trigger_id: fields.trigger_id ?? `${Date.now()}.trigger.${randomUUID().slice(0, 8)}`,
        team: { id: STANDIN_IDENTITY.team_id, domain: 'standin' },
        channel: { id: channel, name: 'triage' },
        message: { type: 'message', ts: fields.messageTs, ...(fields.threadTs ? { thread_ts: fields.threadTs } : {}), user: STANDIN_IDENTITY.user_id, bot_id: STANDIN_IDENTITY.bot_id },
        response_url: fields.response_url ?? this.slack.responseUrl(`ia-${randomUUID().slice(0, 8)}`),
        actions: [{ action_id: fields.actionId, block_id: 'standin-block', type: 'button', value: fields.value, action_ts: `${Date.now() / 1000}` }],
      },
      opts,
    );
  }

  acksOf(envelopeId: string): SocketAck[] {
    return this.acks.filter((a) => a.envelopeId === envelopeId);
  }

  waitForAck(envelopeId: string, timeoutMs = 10_000): Promise<SocketAck> {
    return this.slack.waitFor(`the ack of envelope ${envelopeId}`, () => this.acksOf(envelopeId)[0], timeoutMs);
  }

  /** Sends `{"type":"disconnect","reason":…}` to one connection or all; the app is expected to reconnect. */
  disconnect(reason: DisconnectReason, to?: number): void {
    for (const c of this.targets(to)) c.ws.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'applink-standin' } }));
  }

  /** Drops the TCP connection without a close frame, as a dying load balancer does. */
  drop(to?: number): void {
    for (const c of this.targets(to)) c.ws.terminate();
  }

  /** Stops (or resumes) answering the app's pings, and pinging it (with `serverPingMs`). */
  answerPings(on: boolean): void {
    this.pongs = on;
  }

  /**
   * An outage for `seconds`: open sockets drop, apps.connections.open answers HTTP 503 and upgrades are
   * refused until it ends (or `up()`).
   */
  down(seconds: number): void {
    this.downUntil = Date.now() + seconds * 1000;
    this.drop();
  }

  up(): void {
    this.downUntil = 0;
  }

  get isDown(): boolean {
    return Date.now() < this.downUntil;
  }

  /** Stops everything; the SlackStandin goes on serving the Web API (its close() calls this too). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pinger) clearInterval(this.pinger);
    for (const e of this.envelopes.values()) if (e.timer) clearTimeout(e.timer);
    this.slack.httpServer.off('upgrade', this.onUpgrade);
    this.slack.onConnectionsOpen(null);
    for (const c of this.live.values()) c.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private connectionsOpen(): Record<string, unknown> | 'down' {
    if (this.isDown) return 'down';
    const ticket = randomUUID();
    this.tickets.add(ticket);
    const url = this.slack.url.replace(/^http/, 'ws');
    return { ok: true, url: `${url}/link/?ticket=${ticket}&app_id=${STANDIN_IDENTITY.app_id}` };
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://standin');
    const ticket = url.searchParams.get('ticket') ?? '';
    const refuse = (status: string): void => {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (url.pathname !== '/link/') return refuse('404 Not Found');
    if (this.isDown) return refuse('503 Service Unavailable');
    if (!this.tickets.delete(ticket)) return refuse('401 Unauthorized'); // unknown or already used
    this.wss.handleUpgrade(req, socket, head, (ws) => this.opened(ws));
  }

  private opened(ws: WebSocket): void {
    const info: SocketConnection = { id: ++this.nextId, openedAt: Date.now(), closedAt: null, pings: 0, serverPings: 0 };
    this.connections.push(info);
    this.live.set(info.id, { info, ws });
    ws.on('ping', (data) => {
      info.pings++;
      if (this.pongs) ws.pong(data);
    });
    ws.on('message', (data) => this.received(info.id, data.toString()));
    ws.on('close', () => {
      info.closedAt = Date.now();
      this.live.delete(info.id);
    });
    ws.on('error', () => undefined); // a dropped socket is a test's intent, not a failure
    ws.send(
      JSON.stringify({
        type: 'hello',
        num_connections: this.live.size,
        debug_info: { host: 'applink-standin', build_number: 1, approximate_connection_time: 18060 },
        connection_info: { app_id: STANDIN_IDENTITY.app_id },
      }),
    );
  }

  private received(connection: number, text: string): void {
    let msg: { envelope_id?: unknown; payload?: unknown };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      this.strayMessages.push(text);
      return;
    }
    const known = typeof msg.envelope_id === 'string' ? this.envelopes.get(msg.envelope_id) : undefined;
    if (!known) {
      this.strayMessages.push(msg);
      return;
    }
    const at = Date.now();
    const payload = typeof msg.payload === 'object' && msg.payload !== null ? (msg.payload as Record<string, unknown>) : undefined;
    this.acks.push({ envelopeId: known.envelope.envelope_id, payload, at, afterMs: at - known.sentAt, connection });
    if (known.timer) clearTimeout(known.timer);
    known.timer = null;
  }

  private targets(to?: number): Live[] {
    if (to === undefined) return [...this.live.values()];
    const c = this.live.get(to);
    if (!c) throw new Error(`socket stand-in: connection ${to} is not open (open: ${this.openIds().join(', ') || 'none'})`);
    return [c];
  }

  private deliver(envelope: Envelope, to?: number): void {
    const ids = this.openIds();
    if (ids.length === 0) throw new Error(`socket stand-in: no open connection to send envelope ${envelope.envelope_id} to`);
    const connection = to ?? ids[this.turn++ % ids.length]!;
    this.targets(connection)[0]!.ws.send(JSON.stringify(envelope));
    const sentAt = Date.now();
    this.deliveries.push({ envelope: { ...envelope }, connection, at: sentAt });
    const entry = { envelope, sentAt, timer: null as NodeJS.Timeout | null };
    this.envelopes.set(envelope.envelope_id, entry);
    if (this.opts.retryUnacked && envelope.retry_attempt < this.opts.maxRetries) {
      entry.timer = setTimeout(() => this.retry(envelope), this.opts.ackTimeoutMs);
    }
  }

  /** Slack's retry: the same envelope_id, retry_attempt + 1, to whichever connection is next. */
  private retry(envelope: Envelope): void {
    if (this.acksOf(envelope.envelope_id).length > 0) return;
    if (this.live.size === 0) {
      // Nobody to give it to: look again shortly.
      this.envelopes.get(envelope.envelope_id)!.timer = setTimeout(() => this.retry(envelope), 200);
      return;
    }
    this.deliver({ ...envelope, retry_attempt: envelope.retry_attempt + 1, retry_reason: 'timeout' });
  }
}
