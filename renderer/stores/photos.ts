/** Photos opened in this session and the one on screen. */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { AddPhotosResult, PhotoFailure, PhotoRef } from '../../core/api';
import { remoteErrorMessage, useApi } from '../api';
import { useModelStore } from './model';

export const usePhotosStore = defineStore('photos', () => {
  const api = useApi();

  const photos = shallowRef<PhotoRef[]>([]);
  const selectedId = ref<string | null>(null);
  const failures = shallowRef<PhotoFailure[]>([]);
  const busy = ref(false);
  const error = ref<string | null>(null);

  const selected = computed(() => photos.value.find((p) => p.id === selectedId.value) ?? null);
  /** The built-in demo scene, shown at start; not one of the user's photos. */
  const demoId = ref<string | null>(null);
  /** The photos an export of "all" covers: those the user opened, or the demo scene while it is the only one. */
  const exportPhotos = computed(() => {
    const opened = photos.value.filter((p) => p.id !== demoId.value);
    return opened.length > 0 ? opened : photos.value;
  });

  /** Adds opened photos (and shows the first); `failed` replaces the failures shown. */
  function take(result: AddPhotosResult): void {
    if (result.photos.length > 0) {
      photos.value = [...photos.value, ...result.photos];
      selectedId.value = result.photos[0].id;
    }
    failures.value = result.failed;
  }

  async function run(fn: () => Promise<void>): Promise<void> {
    busy.value = true;
    error.value = null;
    try {
      await fn();
    } catch (err) {
      error.value = remoteErrorMessage(err);
    } finally {
      busy.value = false;
    }
  }

  /** Takes photos the user opened, then the recent list main has just added them to. */
  async function takeOpened(result: AddPhotosResult): Promise<void> {
    take(result);
    if (result.photos.length > 0) await useModelStore().refreshRecent();
  }

  const add = (paths: string[]): Promise<void> => run(async () => {
    if (paths.length > 0) await takeOpened(await api.addPhotos(paths));
  });
  const openDialog = (): Promise<void> => run(async () => takeOpened(await api.openPhotosDialog()));
  const loadDemo = (): Promise<void> => run(async () => {
    const demo = await api.demoScene();
    demoId.value = demo.id;
    take({ photos: [demo], failed: [] });
  });

  function select(id: string): void {
    if (photos.value.some((p) => p.id === id)) selectedId.value = id;
  }

  /** Selects the next (+1) or previous (−1) photo of the strip. */
  function step(delta: number): void {
    const n = photos.value.length;
    if (n === 0) return;
    const i = photos.value.findIndex((p) => p.id === selectedId.value);
    selectedId.value = photos.value[(((i < 0 ? 0 : i + delta) % n) + n) % n].id;
  }

  function dismissFailures(): void {
    failures.value = [];
  }

  return { photos, selectedId, selected, demoId, exportPhotos, failures, busy, error, add, openDialog, loadDemo, select, step, dismissFailures, take, run };
});
