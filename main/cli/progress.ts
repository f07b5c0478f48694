import { createRequire } from 'node:module';
import type { SingleBar } from 'cli-progress';
import { printable as p } from '../../core/printable';

/** cli-progress (16 modules, 17 ms of CPU at every start through the ES module loader), loaded only where a bar is drawn. */
function progressBar(): SingleBar {
  const { Presets, SingleBar: Bar } = createRequire(import.meta.url)('cli-progress') as typeof import('cli-progress');
  return new Bar({ format: 'heatmap {bar} {value}/{total} photos | {rate}/min | left {left} | {photo}', hideCursor: true, clearOnComplete: false }, Presets.shades_classic);
}

/**
 * A batch's terminal output, local or queued: the photos' progress bar (on a terminal only) and a
 * warning printer that stops the bar first, so a warning is never drawn over by it.
 */
export function batchOutput(tty: boolean): { bar: SingleBar | undefined; warn: (message: string) => void } {
  const bar = tty ? progressBar() : undefined;
  const warn = (message: string): void => {
    if (bar) bar.stop();
    process.stderr.write(`convmap: ${p(message)}\n`);
  };
  return { bar, warn };
}
