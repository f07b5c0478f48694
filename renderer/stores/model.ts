/** The model in use: its conversion report, preprocessing, the backend, and recent files. */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { BackendInfo, LoadModelRequest, ModelSummary, RecentItems } from '../../core/api';
import { FREE_INPUT_SIZE, type PreprocessMode } from '../../core/model-info';
import { remoteErrorMessage, isRemoteAbort, useApi } from '../api';
import { loadShippedFontsFor } from '../fonts';
import { newJobId, useJobsStore } from './jobs';

export const useModelStore = defineStore('model', () => {
  const api = useApi();
  const jobs = useJobsStore();

  const model = shallowRef<ModelSummary | null>(null);
  const backend = shallowRef<BackendInfo | null>(null);
  const recent = shallowRef<RecentItems>({ models: [], photos: [] });
  const loading = ref<string | null>(null);
  const error = ref<string | null>(null);
  /** The output, label file and training size the model in use was loaded with (kept when its detail changes). */
  const choice = shallowRef<Pick<LoadModelRequest, 'output' | 'labelsFile' | 'window'>>({});
  /**
   * A model refused because it has no fixed input size ([null, null, 3]) and none was given: its path,
   * until it opens at the size the user gives (the panel's "Trained at" field, as the CLI's --window).
   */
  const sizeNeeded = ref<string | null>(null);

  const labels = computed(() => model.value?.info.labels ?? []);
  /** The network's own stride [sy, sx] in input pixels (the model's cells may be finer: info.stride). */
  const networkStride = computed(() => (model.value ? (model.value.info.networkStride ?? model.value.info.stride) : null));

  async function refreshRecent(): Promise<void> {
    try {
      recent.value = await api.recent();
    } catch (err) {
      error.value = remoteErrorMessage(err);
    }
  }

  async function refreshBackend(): Promise<void> {
    try {
      backend.value = await api.backendInfo();
    } catch (err) {
      error.value = remoteErrorMessage(err);
    }
  }

  /**
   * Loads (converts and verifies) a model; null for the built-in digit model.
   * @param opts.stride cells this many pixels apart (a divisor of the network's stride)
   * @param opts.output the output of a multi-output classifier to convert (a name of info.outputs)
   * @param opts.labelsFile a label file chosen in main's dialog, replacing the model's labels
   * @param opts.window the size in pixels (square) a model without a fixed input size was trained at
   */
  async function load(path: string | null, opts: Omit<LoadModelRequest, 'path' | 'preprocess'> = {}): Promise<ModelSummary | null> {
    loading.value = path ?? 'built-in digit model';
    error.value = null;
    // Named here so Cancel is offered at once, before main's first progress event.
    const jobId = newJobId('load-model');
    jobs.start(jobId, 'Loading model');
    try {
      const req: LoadModelRequest = { jobId, path };
      if (opts.stride !== undefined) req.stride = opts.stride;
      if (opts.output !== undefined) req.output = opts.output;
      if (opts.labelsFile !== undefined) req.labelsFile = opts.labelsFile;
      if (opts.window !== undefined) req.window = opts.window;
      const summary = await api.loadModel(req);
      await loadShippedFontsFor(summary.info.labels);
      model.value = summary;
      sizeNeeded.value = null;
      choice.value = {
        ...(opts.output === undefined ? {} : { output: opts.output }), ...(opts.labelsFile === undefined ? {} : { labelsFile: opts.labelsFile }),
        ...(opts.window === undefined ? {} : { window: opts.window }),
      };
      void refreshBackend();
      void refreshRecent();
      return summary;
    } catch (err) {
      // A cancelled conversion keeps the model in use; nothing went wrong.
      if (!isRemoteAbort(err)) {
        error.value = remoteErrorMessage(err);
        sizeNeeded.value = path !== null && error.value.includes(FREE_INPUT_SIZE) ? path : null;
      }
      return null;
    } finally {
      loading.value = null;
      jobs.finish(jobId);
    }
  }

  async function openDialog(): Promise<void> {
    try {
      const path = await api.openModelDialog();
      if (path !== null) await load(path);
    } catch (err) {
      error.value = remoteErrorMessage(err);
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
    await load(current.path, { ...choice.value, stride: s[0] / divisor });
  }

  /** The stride to keep when the model in use is reloaded: its finer one, if the detail was changed. */
  const keptStride = (m: ModelSummary): { stride?: number } => (m.info.networkStride ? { stride: m.info.stride[0] } : {});

  /**
   * Reloads the model in use converted at another of its outputs (info.outputs), at the same detail.
   * The label file is not kept: another output has its own classes.
   */
  async function setOutput(name: string): Promise<void> {
    const current = model.value;
    if (!current?.info.outputs?.some((o) => o.name === name) || current.info.output === name) return;
    await load(current.path, { ...keptStride(current), ...(choice.value.window === undefined ? {} : { window: choice.value.window }), output: name });
  }

  /**
   * Opens the model waiting for its size (sizeNeeded), or reopens the model in use, at the size it
   * was trained at, in pixels (square); main validates it (a whole number in [8, 4096]).
   */
  async function openAtSize(size: number): Promise<void> {
    const path = sizeNeeded.value ?? model.value?.path ?? null;
    if (path === null) return;
    const kept = sizeNeeded.value === null ? choice.value : {};
    await load(path, { ...kept, window: size });
  }

  /** The window's "Labels…": a label file chosen in main's dialog, applied by reloading the model in use with it. */
  async function chooseLabels(): Promise<void> {
    const current = model.value;
    if (!current) return;
    try {
      const file = await api.openLabelsDialog();
      if (file !== null) await load(current.path, { ...keptStride(current), ...choice.value, labelsFile: file });
    } catch (err) {
      error.value = remoteErrorMessage(err);
    }
  }

  async function setPreprocess(preprocess: PreprocessMode): Promise<void> {
    const current = model.value;
    if (!current || current.info.preprocess === preprocess) return;
    try {
      model.value = await api.setPreprocess({ modelId: current.id, preprocess });
    } catch (err) {
      error.value = remoteErrorMessage(err);
    }
  }

  return {
    model, backend, recent, loading, error, labels, networkStride, choice, sizeNeeded,
    setDetail, setOutput, chooseLabels, load, openAtSize, openDialog, setPreprocess, refreshRecent, refreshBackend,
  };
});
