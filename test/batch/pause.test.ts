// Pausing and resuming a batch must not pile up abort listeners on its signal (it once reached 24
// after three cycles, with a MaxListenersExceededWarning).
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchController } from '../../main/services/batch';

const warnings: Error[] = [];
const onWarning = (w: Error): void => void warnings.push(w);
process.on('warning', onWarning);
afterEach(() => {
  warnings.length = 0;
});

describe('BatchController', () => {
  it('holds one abort listener per waiting lane while paused and none after each resume, over many cycles', async () => {
    const abort = new AbortController();
    const controller = new BatchController();
    const lanes = 8;
    for (let cycle = 0; cycle < 20; cycle++) {
      controller.pause();
      const waits = Array.from({ length: lanes }, () => controller.waitWhilePaused(abort.signal));
      await new Promise((r) => setImmediate(r));
      expect(getEventListeners(abort.signal, 'abort')).toHaveLength(lanes);
      controller.resume();
      await Promise.all(waits);
      expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
    }
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it('lets waiting lanes go when the batch is cancelled while paused, leaving no listener', async () => {
    const abort = new AbortController();
    const controller = new BatchController();
    controller.pause();
    const waits = [controller.waitWhilePaused(abort.signal), controller.waitWhilePaused(abort.signal)];
    abort.abort();
    await Promise.all(waits);
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
    expect(controller.paused).toBe(true);
    // A wait on an already cancelled batch returns at once and adds nothing.
    await controller.waitWhilePaused(abort.signal);
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
  });
});
