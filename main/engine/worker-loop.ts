/** What the engine's tfjs worker threads and its ONNX Runtime process share on their side of the channel. */

export { collectGarbage } from '../io/collect-garbage';

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
