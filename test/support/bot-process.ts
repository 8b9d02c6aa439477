import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../src/config/schema.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const script = fileURLToPath(new URL('./serve-child.ts', import.meta.url));

export interface BotProcess {
  child: ChildProcess;
  url: string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  stderr: () => string;
}

/** Starts test/support/serve-child.ts as its own process and waits until it listens. */
export async function startBot(
  config: Partial<Config> | Record<string, unknown>,
  triageMs: Record<string, number>,
  opts: { engine?: 'real' | 'standin'; replica?: string; pollMs?: number; logLevel?: string } = {},
): Promise<BotProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, PFT_CHILD_CONFIG: JSON.stringify(config), PFT_CHILD_TRIAGE_MS: JSON.stringify(triageMs) };
  if (opts.engine === 'real') env.PFT_CHILD_ENGINE = 'real';
  if (opts.replica) env.PFT_CHILD_REPLICA = opts.replica;
  if (opts.pollMs) env.PFT_CHILD_POLL_MS = String(opts.pollMs);
  if (opts.logLevel) env.PFT_CHILD_LOG_LEVEL = opts.logLevel;
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the bot did not start within 30 s; stderr:\n${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^listening (\S+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the bot exited (${code}) before listening; stderr:\n${err}`));
    });
  });
  return { child, url, exited, stderr: () => err };
}
