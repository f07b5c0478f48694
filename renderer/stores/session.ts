/** What the window does as a whole: first launch, files dropped or handed over by the OS, what the application menu asks. */
import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { MenuCommand } from '../../core/api';
import { useApi } from '../api';
import type { DroppedItem } from '../drop';
import { sortPaths, type OpenTarget } from '../files';
import { useBatchStore } from './batch';
import { useJobsStore } from './jobs';
import { useModelStore } from './model';
import { usePhotosStore } from './photos';
import { useScoresStore } from './scores';
import { DEFAULT_PRESET_ID, DEMO_PRESET_ID } from '../scales';

export const useSessionStore = defineStore('session', () => {
  const api = useApi();
  const model = useModelStore();
  const photos = usePhotosStore();
  const batch = useBatchStore();
  const scores = useScoresStore();
  const started = ref(false);
  /** The keyboard-shortcut sheet is open (the ? key, the toolbar's help button, Help › Keyboard Shortcuts). */
  const helpOpen = ref(false);

  /** First launch: the built-in digit model and the demo scene; the scores store computes them. */
  async function start(): Promise<void> {
    if (started.value) return;
    started.value = true;
    // The demo scene's digits are sized for the demo's scales; any other model gets its own ('auto').
    if (scores.presetId === DEFAULT_PRESET_ID) scores.setPreset(DEMO_PRESET_ID);
    await Promise.all([model.load(null), photos.loadDemo(), model.refreshRecent(), model.refreshBackend()]);
  }

  /** Models are loaded (the last one wins), photos added, folders opened (main loads a folder holding a model as the model). */
  async function open(targets: readonly OpenTarget[]): Promise<void> {
    const sorted = sortPaths(targets);
    const opening: Promise<unknown>[] = [];
    if (sorted.models.length > 0) opening.push(model.load(sorted.models[sorted.models.length - 1]));
    if (sorted.photos.length > 0) opening.push(photos.add(sorted.photos));
    if (sorted.folders.length > 0) opening.push(batch.addFolders(sorted.folders));
    await Promise.all(opening);
  }

  /** A drop onto the window: the preload turns each File into its path. */
  async function openDropped(items: readonly DroppedItem[]): Promise<void> {
    const targets = items.map((it) => ({ path: api.pathForFile(it.file), isDirectory: it.isDirectory })).filter((t) => t.path.length > 0);
    await open(targets);
  }

  /** A menu item: the export buttons, the shortcut sheet, loading a recent or the built-in model. */
  function onMenu(m: MenuCommand): void {
    if (m.command === 'export-photo') void batch.exportPhotos('current');
    else if (m.command === 'export-all') void batch.exportPhotos('all');
    else if (m.command === 'shortcuts') helpOpen.value = true;
    // The built-in model in use already, and no other on its way: nothing to convert again.
    else if (m.command === 'open-model' && !(m.path === null && model.model?.path === null && model.loading === null)) void model.load(m.path);
  }

  const offOpenFiles = api.onOpenFiles((paths) => void open(paths.map((path) => ({ path, isDirectory: false }))));
  const offMenu = api.onMenu(onMenu);
  /** The window goes: main's events (menu, open-files, job progress, batch events) stop reaching its stores. */
  function unsubscribe(): void {
    offOpenFiles();
    offMenu();
    useJobsStore().unsubscribe();
    batch.unsubscribe();
  }

  return { started, helpOpen, start, open, openDropped, unsubscribe };
});
