/**
 * The window's remembered state in the user-data folder: recent.json (recent models and photos) and
 * preprocess.json (the preprocessing chosen per model path). Read-modify-writes are serialised and
 * every write is atomic; a missing or broken file reads as empty.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { RecentItems } from '../../../core/api';
import { isPreprocessMode, type PreprocessMode } from '../../../core/model-info';
import { writeFileAtomic } from '../../io/atomic';

const RECENT_FILE = 'recent.json';
const PREPROCESS_FILE = 'preprocess.json';

export interface SettingsStore {
  recent(): Promise<RecentItems>;
  /** Puts `files` first in the list of `kind` (newest first), trimmed to the limit. */
  remember(kind: keyof RecentItems, files: string[]): Promise<void>;
  /** Preprocessing remembered per model key (a model path, or the built-in key). */
  preprocess(): Promise<Record<string, PreprocessMode>>;
  rememberPreprocess(key: string, mode: PreprocessMode): Promise<void>;
  /** Resolves when every queued write is done. */
  settled(): Promise<void>;
}

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/**
 * The store over `dataDir` (which must exist), keeping `recentLimit` entries per recent list.
 * @param onRecent called with the new list after each write of it.
 */
export function createSettingsStore(dataDir: string, recentLimit = 12, onRecent?: (recent: RecentItems) => void): SettingsStore {
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };
  const readRecent = async (): Promise<RecentItems> => {
    const raw = (await readJson(path.join(dataDir, RECENT_FILE))) as { models?: unknown; photos?: unknown } | undefined;
    return { models: stringList(raw?.models), photos: stringList(raw?.photos) };
  };
  const readPreprocess = async (): Promise<Record<string, PreprocessMode>> => {
    const raw = await readJson(path.join(dataDir, PREPROCESS_FILE));
    const out: Record<string, PreprocessMode> = {};
    if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
      for (const [k, v] of Object.entries(raw)) if (isPreprocessMode(v)) out[k] = v;
    }
    return out;
  };
  return {
    async recent() {
      await queue;
      return readRecent();
    },
    remember: (kind, files) => serial(async () => {
      if (files.length === 0) return;
      const recent = await readRecent();
      const list = [...files.slice().reverse(), ...recent[kind].filter((f) => !files.includes(f))];
      recent[kind] = list.slice(0, recentLimit);
      await writeFileAtomic(path.join(dataDir, RECENT_FILE), `${JSON.stringify(recent, null, 2)}\n`);
      onRecent?.(recent);
    }),
    preprocess: readPreprocess,
    rememberPreprocess: (key, mode) => serial(async () => {
      const all = await readPreprocess();
      all[key] = mode;
      await writeFileAtomic(path.join(dataDir, PREPROCESS_FILE), `${JSON.stringify(all, null, 2)}\n`);
    }),
    async settled() {
      await queue;
    },
  };
}
