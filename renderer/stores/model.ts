/** The model in use: its conversion report, preprocessing, the backend, and recent files. */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { BackendInfo, ModelSummary, RecentItems } from '../../core/api';
import type { PreprocessMode } from '../../core/model-info';
import { errorMessage, isAbortError, useApi } from '../api';
import { useJobsStore } from './jobs';

export const useModelStore = defineStore('model', () => {
  const api = useApi();
  const jobs = useJobsStore();

  const model = shallowRef<ModelSummary | null>(null);
  const backend = shallowRef<BackendInfo | null>(null);
  const recent = shallowRef<RecentItems>({ models: [], photos: [] });
  const loading = ref<string | null>(null);
  const error = ref<string | null>(null);

  const labels = computed(() => model.value?.info.labels ?? []);
  /** The network's own stride [sy, sx] in input pixels (the model's cells may be finer: info.stride). */
  const networkStride = computed(() => (model.value ? (model.value.info.networkStride ?? model.value.info.stride) : null));

  async function refreshRecent(): Promise<void> {
    try {
      recent.value = await api.recent();
    } catch (err) {
      error.value = errorMessage(err);
    }
  }

  async function refreshBackend(): Promise<void> {
    try {
      backend.value = await api.backendInfo();
    } catch (err) {
      error.value = errorMessage(err);
    }
  }

  /**
   * Loads (converts and verifies) a model; null for the built-in digit model.
   * @param opts.stride cells this many pixels apart (a divisor of the network's stride)
   */
  async function load(path: string | null, opts: { stride?: number } = {}): Promise<ModelSummary | null> {
    loading.value = path ?? 'built-in digit model';
    error.value = null;
    try {
      const summary = await api.loadModel(opts.stride === undefined ? { path } : { path, stride: opts.stride });
      model.value = summary;
      void refreshBackend();
      void refreshRecent();
      return summary;
    } catch (err) {
      // A cancelled conversion keeps the model in use; nothing went wrong.
      if (!isAbortError(err)) error.value = errorMessage(err);
      return null;
    } finally {
      loading.value = null;
      jobs.finishMatching('load-model:');
    }
  }

  async function openDialog(): Promise<void> {
    try {
      const path = await api.openModelDialog();
      if (path !== null) await load(path);
    } catch (err) {
      error.value = errorMessage(err);
    }
  }

  /**
   * The window's "detail": reloads the model in use with cells every networkStride / divisor pixels
   * (1: the network's own stride; 2, 4: the à trous rewrite). The new model replaces the old one.
   */
  async function setDetail(divisor: number): Promise<void> {
    const current = model.value;
    const s = networkStride.value;
    if (!current || !s || s[0] % divisor !== 0 || s[1] % divisor !== 0) return;
    if (current.info.stride[0] === s[0] / divisor && current.info.stride[1] === s[1] / divisor) return;
    await load(current.path, { stride: s[0] / divisor });
  }

  async function setPreprocess(preprocess: PreprocessMode): Promise<void> {
    const current = model.value;
    if (!current || current.info.preprocess === preprocess) return;
    try {
      model.value = await api.setPreprocess({ modelId: current.id, preprocess });
    } catch (err) {
      error.value = errorMessage(err);
    }
  }

  return { model, backend, recent, loading, error, labels, networkStride, setDetail, load, openDialog, setPreprocess, refreshRecent, refreshBackend };
});
