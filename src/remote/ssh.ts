import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import type { Duplex } from 'node:stream';
import type { NodeConfig, SshConfig } from '../config/schema.js';
import { TriageError } from '../errors.js';
import { buildStepCommand, buildStopCommand } from './command.js';
import { fingerprintOfKeyBlob, sameFingerprint } from './fingerprint.js';
import type { Connector, NodeSession, StepOutput, StepRequest } from './session.js';
import { superviseStep, type RunnerOptions, type StepSink } from './step.js';

/**
 * Runs the playbook over SSH (ssh2). One connection per session, one `exec` channel per step with
 * the script written to its stdin. The host key is checked against the configured fingerprint
 * during key exchange, before authentication, so a wrong host never sees a login or a command.
 */
export class SshConnector implements Connector {
  constructor(private readonly options: RunnerOptions = {}) {}

  async open(node: NodeConfig, options: { signal?: AbortSignal } = {}): Promise<NodeSession> {
    const ssh = node.ssh;
    if (!ssh || node.local) throw new TriageError('internal', `node ${node.name} has no ssh settings`);
    const { signal } = options;
    if (signal?.aborted) throw new TriageError('cancelled', 'aborted before connecting');
    const key = await readKey(ssh.privateKeyPath, `${node.name} (ssh.privateKeyPath)`);

    let jump: Client | undefined;
    try {
      let sock: Duplex | undefined;
      if (ssh.jumpHost) {
        const j = ssh.jumpHost;
        const jumpKey = j.privateKeyPath === undefined ? key : await readKey(j.privateKeyPath, `${node.name}'s jump host (ssh.jumpHost.privateKeyPath)`);
        jump = await connect(
          {
            what: `jump host ${j.host}:${j.port}`,
            host: j.host,
            port: j.port,
            user: j.user,
            privateKey: jumpKey,
            // The node's passphrase goes with the node's key only.
            passphrase: j.privateKeyPath === undefined ? ssh.passphrase : undefined,
            hostKey: j.hostKey,
            connectTimeoutSeconds: ssh.connectTimeoutSeconds,
            keepaliveSeconds: ssh.keepaliveSeconds,
          },
          signal,
        );
        sock = await forward(jump, ssh, signal);
      }
      const client = await connect(
        {
          what: `${ssh.host}:${ssh.port}`,
          host: ssh.host,
          port: ssh.port,
          user: ssh.user,
          privateKey: key,
          passphrase: ssh.passphrase,
          hostKey: ssh.hostKey,
          connectTimeoutSeconds: ssh.connectTimeoutSeconds,
          keepaliveSeconds: ssh.keepaliveSeconds,
          sock,
        },
        signal,
      );
      return new SshSession(client, jump, ssh, this.options);
    } catch (err) {
      jump?.destroy();
      throw err;
    }
  }
}

/**
 * The message goes into the verdict, which is posted to Slack: it names the key by its config key and the
 * error code, never by its path. The path stays in the cause (the fs error), which the pipeline logs.
 */
async function readKey(path: string, whose: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new TriageError('config_invalid', `cannot read the SSH private key of ${whose}: ${code} (the bot's log names the file)`, { cause: err });
  }
}

interface Hop {
  /** Names the hop in messages: "10.0.0.5:22" or "jump host bastion:22". */
  what: string;
  host: string;
  port: number;
  user: string;
  privateKey: Buffer;
  passphrase: string | undefined;
  hostKey: string;
  connectTimeoutSeconds: number;
  keepaliveSeconds: number;
  sock?: Duplex | undefined;
}

type Ssh2Error = Error & { level?: string; code?: string };

/** Connects, verifies the host key, authenticates. Resolves once the client is ready to exec. */
function connect(hop: Hop, signal: AbortSignal | undefined): Promise<Client> {
  const client = new Client();
  let presented: string | undefined;
  let mismatch = false;

  return new Promise<Client>((resolve, reject) => {
    let settled = false;
    const settle = (err?: TriageError) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      client.removeListener('ready', onReady);
      if (err) {
        client.destroy();
        reject(err);
      } else {
        resolve(client);
      }
    };
    const onAbort = () => settle(new TriageError('cancelled', `aborted while connecting to ${hop.what}`));
    const onReady = () => settle();
    signal?.addEventListener('abort', onAbort, { once: true });
    client.once('ready', onReady);
    client.on('error', (err: Ssh2Error) => {
      if (mismatch) {
        settle(
          new TriageError(
            'host_key_mismatch',
            `${hop.what} presented host key ${presented}, but the configuration expects ${hop.hostKey}; refused before authentication`,
          ),
        );
      } else {
        settle(connectError(err, hop));
      }
    });
    // A close without an error (the server hung up before it was ready).
    client.on('close', () => settle(new TriageError('unreachable', `${hop.what} closed the connection before SSH was ready`)));

    const config: ConnectConfig = {
      host: hop.host,
      port: hop.port,
      username: hop.user,
      privateKey: hop.privateKey,
      readyTimeout: hop.connectTimeoutSeconds * 1000,
      keepaliveInterval: hop.keepaliveSeconds * 1000,
      keepaliveCountMax: 3,
      // Called with the raw key blob during key exchange, before any authentication is attempted.
      hostVerifier: (blob: Buffer): boolean => {
        presented = fingerprintOfKeyBlob(blob);
        mismatch = !sameFingerprint(presented, hop.hostKey);
        return !mismatch;
      },
      // Public key only: never fall back to an agent, a password or keyboard-interactive.
      authHandler: ['publickey'],
    };
    if (hop.passphrase !== undefined) config.passphrase = hop.passphrase;
    if (hop.sock) config.sock = hop.sock as ConnectConfig['sock'];
    try {
      client.connect(config);
    } catch (err) {
      // ssh2 parses the private key synchronously: a bad key or passphrase lands here.
      settle(new TriageError('config_invalid', `cannot use the SSH private key for ${hop.what}: ${(err as Error).message}`, { cause: err }));
    }
  });
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'ECONNRESET', 'EPIPE']);

function connectError(err: Ssh2Error, hop: Hop): TriageError {
  const detail = err.code ? `${err.code}: ${err.message}` : err.message;
  if (err.level === 'client-authentication') {
    return new TriageError('auth_refused', `${hop.what} refused public key authentication for user ${hop.user}`, { cause: err });
  }
  if (err.level === 'client-timeout' || err.code === 'ETIMEDOUT') {
    return new TriageError('connect_timeout', `${hop.what}: no SSH session within ${hop.connectTimeoutSeconds} s (${err.message})`, { cause: err });
  }
  if (err.code !== undefined && UNREACHABLE_CODES.has(err.code)) {
    return new TriageError('unreachable', `${hop.what} is unreachable (${detail})`, { cause: err });
  }
  if (err.level === 'handshake') {
    // No common algorithm, bad signature…: trying again will not help.
    return new TriageError('unreachable', `SSH handshake with ${hop.what} failed: ${err.message}`, { cause: err, retryable: false });
  }
  return new TriageError('unreachable', `cannot connect to ${hop.what}: ${detail}`, { cause: err });
}

/** Opens a TCP tunnel through the jump host to the node's SSH port. */
function forward(jump: Client, ssh: SshConfig, signal: AbortSignal | undefined): Promise<Duplex> {
  const what = `jump host ${ssh.jumpHost?.host}:${ssh.jumpHost?.port}`;
  return new Promise<Duplex>((resolve, reject) => {
    let settled = false;
    const settle = (err: TriageError | undefined, stream?: Duplex) => {
      if (settled) {
        stream?.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(stream as Duplex);
    };
    const onAbort = () => settle(new TriageError('cancelled', `aborted while ${what} connected to ${ssh.host}:${ssh.port}`));
    const timer = setTimeout(
      () => settle(new TriageError('connect_timeout', `${what} did not connect to ${ssh.host}:${ssh.port} within ${ssh.connectTimeoutSeconds} s`)),
      ssh.connectTimeoutSeconds * 1000,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    jump.forwardOut('127.0.0.1', 0, ssh.host, ssh.port, (err, stream) => {
      if (err) settle(new TriageError('unreachable', `${what} could not connect to ${ssh.host}:${ssh.port}: ${err.message}`, { cause: err }));
      else settle(undefined, stream);
    });
  });
}

/**
 * ssh2's `Channel.signal()` does nothing once stdin is ended, and it always is here (the script is
 * written and ended at start). RFC 4254 allows channel requests after EOF and OpenSSH's sshd
 * honours them (killpg of the session), so send the request through the protocol directly.
 */
function signalChannel(channel: ClientChannel, name: 'TERM' | 'KILL'): void {
  const c = channel as unknown as {
    outgoing?: { id: number; state: string };
    _client?: { _protocol?: { signal(id: number, signal: string): void } };
  };
  const state = c.outgoing?.state;
  if (c.outgoing && (state === 'open' || state === 'eof') && c._client?._protocol) {
    try {
      c._client._protocol.signal(c.outgoing.id, name);
    } catch {
      // The connection is already gone: nothing left to signal.
    }
  }
}

/**
 * sudo -n fails with exit 1, nothing on stdout and a "sudo: …" line on stderr ("sudo: a password
 * is required" whether the user may not sudo at all or only with a password), before the
 * playbook runs at all. Other lines may come first (a login shell's "Could not chdir to home").
 */
export function sudoRefusal(out: Pick<StepOutput, 'stdout' | 'stderr' | 'exitCode'>): string | undefined {
  if (out.exitCode !== 1 || out.stdout.length > 0) return undefined;
  return out.stderr.split('\n').find((l) => l.startsWith('sudo: '));
}

const INSTALLED_BANNER = /^pft-step: playbook sha256=([0-9a-f]{64})$/m;

/**
 * With `ssh.playbook: installed` the node runs its own copy of the playbook. pft-step names that copy's
 * sha256 on stderr first: a step without the line did not run the installed playbook at all, and a copy
 * that differs from the bot's would be parsed with the wrong expectations.
 */
export function checkInstalled(out: StepOutput, script: string, host: string): StepOutput {
  const m = INSTALLED_BANNER.exec(out.stderr);
  if (!m) {
    const detail = out.stderr.trim().split('\n').slice(-2).join(' | ').slice(0, 300) || `exit code ${out.exitCode ?? out.exitSignal}`;
    throw new TriageError('config_invalid', `the installed playbook did not run on ${host} (${detail}): install it with scripts/setup-node.sh (SECURITY.md)`);
  }
  const want = createHash('sha256').update(script, 'utf8').digest('hex');
  if (m[1] !== want) {
    throw new TriageError(
      'config_invalid',
      `the playbook installed on ${host} (sha256 ${m[1]!.slice(0, 12)}…) is not this bot's (sha256 ${want.slice(0, 12)}…): run scripts/setup-node.sh on the node again`,
    );
  }
  return { ...out, stderr: out.stderr.replace(INSTALLED_BANNER, '').replace(/^\n/, '') };
}

class SshSession implements NodeSession {
  readonly address: string;
  private lost: TriageError | undefined;
  private closed = false;
  /** The connection has closed (for whatever reason). */
  private gone = false;
  private current: StepSink | undefined;
  /** An aborted step being stopped on the node; the connection ends when it is done. */
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly client: Client,
    private readonly jump: Client | undefined,
    private readonly ssh: SshConfig,
    private readonly options: RunnerOptions,
  ) {
    this.address = ssh.host;
    const onGone = (why: string) => {
      this.lost ??= new TriageError('connection_lost', `the connection to ${ssh.host}:${ssh.port} was lost (${why})`);
      this.current?.fail(this.lost);
    };
    client.on('error', (err: Ssh2Error) => onGone(err.message));
    client.on('close', () => {
      this.gone = true;
      onGone('closed');
    });
    jump?.on('error', (err: Ssh2Error) => onGone(`jump host: ${err.message}`));
    jump?.on('close', () => onGone('jump host closed'));
  }

  async run(req: StepRequest): Promise<StepOutput> {
    if (this.closed) throw new TriageError('internal', 'the SSH session is closed');
    if (this.lost) throw this.lost;
    if (this.current) throw new TriageError('internal', 'a step is already running on this session');
    const installed = this.ssh.playbook === 'installed';
    const spec = { args: req.args, timeoutSeconds: req.timeoutSeconds, sudo: this.ssh.sudo, playbook: this.ssh.playbook ?? 'stdin' };
    const { line } = buildStepCommand(spec);
    const stopLine = buildStopCommand(spec).line;

    // An installed playbook is the node's own copy: nothing goes on stdin.
    const out = await superviseStep(req, this.options, (sink) => this.exec(line, stopLine, installed ? '' : req.script, sink)).finally(() => {
      this.current = undefined;
    });
    const refusal = this.ssh.sudo ? sudoRefusal(out) : undefined;
    if (refusal !== undefined) {
      throw new TriageError('sudo_refused', `sudo -n was refused for user ${this.ssh.user} on ${this.ssh.host}: ${refusal}`);
    }
    return installed ? checkInstalled(out, req.script, this.ssh.host) : out;
  }

  private exec(line: string, stopLine: string, script: string, sink: StepSink): { stop(): void } {
    this.current = sink;
    let channel: ClientChannel | undefined;
    let stopped = false;

    const onChannel = (err: Error | undefined, stream: ClientChannel) => {
      if (err) {
        sink.fail(new TriageError('connection_lost', `could not start the step on ${this.ssh.host}: ${err.message}`, { cause: err }));
        return;
      }
      channel = stream;
      stream.on('error', () => {});
      if (stopped) {
        signalChannel(stream, 'TERM');
        stream.close();
        return;
      }
      let exit: { code: number | null; signal: string | null } | undefined;
      let open = 2; // stdout (with the channel) and stderr must both have ended
      const ended = () => {
        if (--open > 0) return;
        if (exit) sink.finish(exit.code, exit.signal);
        else sink.fail(new TriageError('connection_lost', `the channel on ${this.ssh.host} closed before the step reported an exit status`));
      };
      stream.on('data', (chunk: Buffer) => sink.stdout.push(chunk));
      stream.stderr.on('data', (chunk: Buffer) => sink.stderr.push(chunk));
      stream.on('exit', (code: number | null, signal?: string) => {
        exit = { code: code ?? null, signal: signal ?? null };
      });
      stream.once('close', ended);
      stream.stderr.once('close', ended);
      stream.end(script);
    };
    try {
      this.client.exec(line, onChannel);
    } catch (err) {
      // ssh2 throws "Not connected" when the socket went away before its close event arrived.
      sink.fail(new TriageError('connection_lost', `could not start the step on ${this.ssh.host}: ${(err as Error).message}`, { cause: err }));
    }

    return {
      // Abort and deadline both end the triage: stop the step on the node, then let go of the connection.
      stop: () => {
        if (stopped) return;
        stopped = true;
        this.closed = true;
        if (channel) {
          // sshd passes TERM to the session (`exec` made sudo/timeout its leader); `timeout` passes
          // it on to the whole step and KILLs it 2 s later.
          signalChannel(channel, 'TERM');
          channel.close();
        }
        this.stopping = this.execStop(stopLine).finally(() => this.endConnection());
      },
    };
  }

  /** Second way to stop the step, for servers that ignore the signal request. Never rejects. */
  private execStop(line: string): Promise<void> {
    if (this.gone || this.lost) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, STOP_WAIT_MS);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      try {
        this.client.exec(line, (err, stream) => {
          if (err) return done();
          stream.on('error', () => {});
          stream.resume();
          stream.stderr.resume();
          stream.once('close', done);
          stream.end();
        });
      } catch {
        done();
      }
    });
  }

  private endConnection(): void {
    this.client.end();
    this.jump?.end();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.current?.fail(new TriageError('cancelled', 'the session was closed while a step was running'));
    if (this.stopping) await this.stopping;
    if (this.gone) {
      this.jump?.end();
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.client.destroy();
        this.jump?.destroy();
        resolve();
      }, STOP_WAIT_MS);
      this.client.once('close', () => {
        clearTimeout(timer);
        this.jump?.end();
        resolve();
      });
      this.endConnection();
    });
  }
}

/** How long stopping a step or closing a session may wait on the node before letting go. */
const STOP_WAIT_MS = 3000;
