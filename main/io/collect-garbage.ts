import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * A full garbage collection now, where V8 allows it: big models, and decoded photos handed on, leave
 * buffers of hundreds of megabytes that should be gone before the next copy is made.
 */
export function collectGarbage(): void {
  try {
    v8.setFlagsFromString('--expose-gc');
    (vm.runInNewContext('gc') as () => void)();
  } catch {
    // Only an optimisation: V8 collects it later anyway.
  }
}
