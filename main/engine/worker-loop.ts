/** What the engine's two worker threads (tfjs and ONNX Runtime) share on their side of the port. */
import v8 from 'node:v8';
import vm from 'node:vm';
import type { MessagePort } from 'node:worker_threads';

/**
 * A full garbage collection now, where V8 allows it: big models leave half-gigabyte buffers that
 * should be gone before the next copy is made.
 */
export function collectGarbage(): void {
  try {
    v8.setFlagsFromString('--expose-gc');
    (vm.runInNewContext('gc') as () => void)();
  } catch {
    // Only an optimisation: V8 collects it later anyway.
  }
}

/**
 * Handles the port's messages one at a time, in arrival order, once `started` has resolved; when it
 * resolved to undefined (the thread could not start: it has said so and closed the port) messages
 * are dropped.
 */
export function serveInOrder<S, M>(port: MessagePort, started: Promise<S | undefined>, handle: (state: S, msg: M) => Promise<void>): void {
  let chain: Promise<unknown> = started;
  port.on('message', (msg: M) => {
    chain = chain.then(async () => {
      const state = await started;
      if (state !== undefined) await handle(state, msg);
    });
  });
}
