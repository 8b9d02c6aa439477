import type { Progress } from '../pipeline.js';

/**
 * Progress on stderr: one line updated in place on a terminal (`node-1 ▸ rank 3/5 s`), plain lines
 * when stderr is a pipe or a file, so logs stay readable.
 */
export function progressReporter(node: string, stream: NodeJS.WriteStream = process.stderr): {
  onProgress: (p: Progress) => void;
  done: () => void;
} {
  const tty = stream.isTTY === true;
  let timer: NodeJS.Timeout | undefined;
  let lastLen = 0;

  const write = (text: string) => {
    if (tty) {
      stream.write(`\r${text}${' '.repeat(Math.max(0, lastLen - text.length))}`);
      lastLen = text.length;
    } else {
      stream.write(`${text}\n`);
    }
  };
  const stop = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
  };

  return {
    onProgress(p) {
      stop();
      const label = STEP_LABEL[p.step];
      if (p.seconds !== undefined && tty) {
        const started = Date.now();
        const tick = () => {
          const el = Math.min(p.seconds!, Math.floor((Date.now() - started) / 1000));
          write(`${node} ▸ ${label} ${el}/${p.seconds} s`);
        };
        tick();
        timer = setInterval(tick, 250);
        timer.unref();
      } else {
        write(`${node} ▸ ${label}${p.seconds !== undefined ? ` (${p.seconds} s)` : ''}`);
      }
    },
    done() {
      stop();
      if (tty && lastLen > 0) stream.write('\n');
    },
  };
}

const STEP_LABEL: Record<Progress['step'], string> = {
  connect: 'connecting',
  rank: 'ranking processes',
  capture: 'capturing fault addresses',
  resolve: 'resolving addresses',
  done: 'done',
};
