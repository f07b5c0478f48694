/** The one way an unknown thrown value becomes text, for every layer. */

/** The message of an Error, or the value as text. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The message of an error about one file, naming it once: "<name>: <message>", or the message as it
 * is when it already starts with "<name>: " (a ModelError or ImageError names its file itself).
 */
export function namedMessage(name: string, err: unknown): string {
  const msg = errorMessage(err);
  return msg.startsWith(`${name}: `) ? msg : `${name}: ${msg}`;
}

/** `message` without a leading "<name>: ": for a caller that names the file itself. */
export function withoutName(message: string, name: string): string {
  return message.startsWith(`${name}: `) ? message.slice(name.length + 2) : message;
}

/**
 * One line about one file: the first line of the message, without a leading "<name>: " (the caller
 * names the file itself), whitespace collapsed.
 * @param file the file the message is about (path or name; its base name is stripped).
 */
export function reasonFor(err: unknown, file: string): string {
  const base = file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
  return withoutName(errorMessage(err).split('\n')[0].trim(), base);
}
