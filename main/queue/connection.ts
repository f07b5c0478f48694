/**
 * Where the queue lives: a `redis://[user:password@]host[:port][/db]` URL (or `rediss://` for TLS),
 * turned into BullMQ's connection options, and the same URL as it may be printed (password hidden).
 * Every Convmap process on the queue (workers, submitters, `convmap queue`) uses the same queue name.
 */
import type { ConnectionOptions } from 'bullmq';

/** The BullMQ queue that heatmap jobs go through. */
export const QUEUE_NAME = 'convmap-heatmap';

/**
 * When `convmap queue cancel` last ran (ms since the epoch): a submitter that finds its jobs gone
 * takes them as cancelled when this is later than its submission, as lost by Redis otherwise.
 */
export const CANCELLED_AT_KEY = `convmap:${QUEUE_NAME}:cancelled-at`;

/** A parsed queue URL. */
export interface QueueTarget {
  /** ioredis options for BullMQ (reconnecting forever, so a restarted Redis is waited for). */
  connection: ConnectionOptions;
  /** The URL with its password replaced by "***": the only form any message shows. */
  display: string;
}

/** `url` with any password replaced by "***" (unparseable text is shown as "the queue URL"). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the queue URL';
  }
}

/**
 * Parses `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS).
 * @throws naming the problem, never the password.
 */
export function parseQueueUrl(url: string): QueueTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error('--queue must be a URL such as redis://127.0.0.1:6379/0');
  }
  const display = redactUrl(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`--queue ${display}: expected redis:// or rediss://`);
  if (!u.hostname) throw new Error(`--queue ${display}: no host`);
  const port = u.port === '' ? 6379 : Number(u.port);
  const dbText = u.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0 || db > 1_000_000) throw new Error(`--queue ${display}: database "${dbText}" is not a number`);
  const connection: ConnectionOptions = {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    // Commands wait while Redis is away (restarted, failed over) instead of failing the batch.
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(200 * times, 2000),
  };
  return { connection, display };
}

/**
 * A Redis error as one line without secrets: ioredis messages name host and port, never the
 * password, but a URL inside one is redacted all the same.
 */
export function redisErrorLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/rediss?:\/\/[^\s]+/g, (m) => redactUrl(m));
}
