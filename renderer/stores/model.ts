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

  /** Loads (converts and verifies) a model; null for the built-in digit model. */
  async function load(path: string | null): Promise<ModelSummary | null> {
    loading.value = path ?? 'built-in digit model';
    error.value = null;
    try {
      const summary = await api.loadModel({ path });
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

  async function setPreprocess(preprocess: PreprocessMode): Promise<void> {
    const current = model.value;
    if (!current || current.info.preprocess === preprocess) return;
    try {
      model.value = await api.setPreprocess({ modelId: current.id, preprocess });
    } catch (err) {
      error.value = errorMessage(err);
    }
  }

  return { model, backend, recent, loading, error, labels, load, openDialog, setPreprocess, refreshRecent, refreshBackend };
});
