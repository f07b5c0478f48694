/** What the engine's tfjs worker threads and its ONNX Runtime process share on their side of the channel. */
import v8 from 'node:v8';
import vm from 'node:vm';

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
 * Handles the channel's messages one at a time, in arrival order, once `started` has resolved; when
 * it resolved to undefined (the thread or process could not start and has said so) messages are dropped.
 * @param subscribe registers the one listener for incoming messages.
 */
export function serveInOrder<S, M>(subscribe: (listener: (msg: M) => void) => void, started: Promise<S | undefined>, handle: (state: S, msg: M) => Promise<void>): void {
  let chain: Promise<unknown> = started;
  subscribe((msg: M) => {
    chain = chain.then(async () => {
      const state = await started;
      if (state !== undefined) await handle(state, msg);
    });
  });
}
