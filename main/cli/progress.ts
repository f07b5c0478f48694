import { Presets, SingleBar } from 'cli-progress';
import { printable as p } from '../../core/printable';

/**
 * A batch's terminal output, local or queued: the photos' progress bar (on a terminal only) and a
 * warning printer that stops the bar first, so a warning is never drawn over by it.
 */
export function batchOutput(tty: boolean): { bar: SingleBar | undefined; warn: (message: string) => void } {
  const bar = tty
    ? new SingleBar({ format: 'heatmap {bar} {value}/{total} photos | {rate}/min | left {left} | {photo}', hideCursor: true, clearOnComplete: false }, Presets.shades_classic)
    : undefined;
  const warn = (message: string): void => {
    if (bar) bar.stop();
    process.stderr.write(`convmap: ${p(message)}\n`);
  };
  return { bar, warn };
}
