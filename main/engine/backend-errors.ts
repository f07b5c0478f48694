/**
 * Some backend faults are only printed, not thrown: tfjs-backend-wasm prints "XNN status for
 * xnn_setup_convolution2d_nhwc_f32 is not successful" (to console.warn, through Emscripten's
 * printErr) and goes on to return a wrong tile. An inference worker installs this capture before
 * its backend starts (Emscripten binds console.warn when the module is created) and runs each tile
 * through `failOnBackendErrors`, so such a message fails the tile instead of passing it on.
 */

/** What a printed backend fault looks like (benign tfjs notices do not match). */
const FAULT = /not successful|XNN|\berror\b|\bfail(ed|ure)?\b|abort|out of memory|\bOOM\b/i;

let capturing: string[] | null = null;
let installed = false;

/** Wraps console.warn and console.error once: messages still print, and are kept while a tile runs. */
export function installBackendErrorCapture(): void {
  if (installed) return;
  installed = true;
  for (const level of ['warn', 'error'] as const) {
    const original = console[level].bind(console);
    console[level] = (...args: unknown[]): void => {
      if (capturing !== null) capturing.push(args.map((a) => (a instanceof Error ? a.message : String(a))).join(' '));
      original(...args);
    };
  }
}

/**
 * Runs `run` (one tile); when the backend printed a fault meanwhile, throws naming it.
 * Calls must not overlap (a worker runs one tile at a time).
 * @throws Error `the backend reported a fault while running this tile: <first line of the message>`.
 */
export async function failOnBackendErrors<T>(run: () => Promise<T>): Promise<T> {
  const printed: string[] = [];
  capturing = printed;
  try {
    const result = await run();
    const fault = printed.find((m) => FAULT.test(m));
    if (fault !== undefined) {
      throw new Error(`the backend reported a fault while running this tile: ${fault.split('\n')[0].slice(0, 300)}`);
    }
    return result;
  } finally {
    capturing = null;
  }
}
