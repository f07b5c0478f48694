/** Numeric command-line options, checked with one message shape: `--name must be … from lo to hi, got "v"`; and `--preprocess`. */
import { InvalidArgumentError } from 'commander';
import { NORMALIZE_SYNTAX, PREPROCESS_MODES, readPreprocessMode, type PreprocessMode } from '../../core/model-info';

/** "≥ 0" for an open range, "from 0 to 1" for a closed one. */
function rangeText(lo: number, hi: number): string {
  return hi >= Number.MAX_VALUE ? `≥ ${lo}` : `from ${lo} to ${hi}`;
}

/** An option's number in [lo, hi] (hi Infinity: no upper bound). @throws naming the option and its range. */
export function parseNumber(name: string, v: unknown, lo: number, hi = Infinity): number {
  const x = typeof v === 'string' && v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(x) || x < lo || x > hi) throw new Error(`--${name} must be a number ${rangeText(lo, hi)}, got "${String(v)}"`);
  return x;
}

/** An option's whole number in [lo, hi]. @throws naming the option and its range. */
export function parseInteger(name: string, v: unknown, lo: number, hi = Infinity): number {
  const x = typeof v === 'string' && v.trim() === '' ? NaN : Number(v);
  if (!Number.isInteger(x) || x < lo || x > hi) throw new Error(`--${name} must be a whole number ${rangeText(lo, hi)}, got "${String(v)}"`);
  return x;
}

/** `--preprocess`'s value: a preset or a `normalize:MEAN/STD` mode, in canonical form. @throws commander's InvalidArgumentError saying what is accepted. */
export function preprocessOption(v: string): PreprocessMode {
  const read = readPreprocessMode(v);
  if (!read.ok) throw new InvalidArgumentError(read.reason);
  return read.mode;
}

/** `--preprocess`'s help: the presets and the normalize form. */
export const PREPROCESS_HELP = `${PREPROCESS_MODES.join(', ')}, or the model's own ${NORMALIZE_SYNTAX}, e.g. normalize:0.1307/0.3081`;
