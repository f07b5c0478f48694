/** The one way an unknown thrown value becomes text, for every layer. */

/** The message of an Error, or the value as text. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * One line about one file: the first line of the message, without a leading "<name>: " (the caller
 * names the file itself), whitespace collapsed.
 * @param file the file the message is about (path or name; its base name is stripped).
 */
export function reasonFor(err: unknown, file: string): string {
  let msg = errorMessage(err).split('\n')[0].trim();
  const base = file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
  if (msg.startsWith(`${base}: `)) msg = msg.slice(base.length + 2);
  return msg;
}
