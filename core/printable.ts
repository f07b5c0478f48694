/**
 * Text from strangers (file names, labels, layer names, messages built from model bytes) made safe
 * to print on a terminal: control characters become visible escapes, so an ESC sequence in a file
 * name cannot recolour, retitle or clear the user's terminal, and a newline cannot forge a line.
 * Printable Unicode (한국어 labels, emoji, accents) is kept as it is.
 */

/**
 * C0 controls (incl. TAB, LF, CR, BEL, ESC), DEL, C1 controls (incl. CSI U+009B), the line and
 * paragraph separators, and the bidirectional overrides/isolates that reorder what is shown.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeChar(ch: string): string {
  const named = NAMED[ch];
  if (named !== undefined) return named;
  const code = ch.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * `text` with every control character written as an escape: ESC → `\x1b`, BEL → `\x07`,
 * LF → `\n`, U+009B → `\x9b`, U+202E → `\u202e`. Everything else is unchanged; a value that
 * is not a string is printed as `String(value)` would.
 */
export function printable(text: string | number | boolean | null | undefined): string {
  return String(text).replace(UNSAFE, escapeChar);
}

/**
 * `JSON.stringify(value)` that is also safe on a terminal: JSON already escapes C0 controls; this
 * also escapes DEL, C1 controls, separators and bidi controls as `\uXXXX`, so the line stays valid
 * JSON that parses back to the same value.
 */
export function printableJson(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
