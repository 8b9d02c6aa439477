/** IPC for the intake children: tell the parent where we listen, answer "measure" with memory after GC. */
export function measureOnRequest(url: string, settle: () => Promise<void> = async () => {}): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc || !process.send) throw new Error('run with --expose-gc and an IPC channel');
  process.on('message', (m: unknown) => {
    if (m !== 'measure') return;
    void settle().then(async () => {
      // Two full collections with a turn of the event loop between them (weak refs, finalizers).
      gc();
      await new Promise((r) => setImmediate(r));
      gc();
      const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
      process.send!({ memory: { rss, heapUsed, heapTotal, external, arrayBuffers } });
    });
  });
  process.send({ listening: url });
}
