/** Cancellation shared by every floor of main/: the one error a cancelled job rejects with. */

/** The error a cancelled job rejects with: `name` is 'AbortError', `cause` the signal's reason. */
export function abortError(signal?: AbortSignal): Error {
  const err = new Error('the operation was cancelled', { cause: signal?.reason });
  err.name = 'AbortError';
  return err;
}

/** True for the error of {@link abortError} (or any error named 'AbortError', as Node's own). */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}
