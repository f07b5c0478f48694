/**
 * Score maps of the photo on screen: the scales asked for, one computeScores call for the scales not
 * yet computed, and everything derived locally with core — averaging over the scales switched on,
 * the classes ranked by their strongest score, "any (not background)".
 * Toggling a scale or the mean/max mode re-averages here and never calls main again.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef, watch, type WritableComputedRef } from 'vue';
import { classMaxima, maxOverClasses, type AveragedMap, type CombineMode } from '../../core/average';
import { defaultScales, rankClasses, scalesWithoutCells } from '../../core/defaults';
import { defaultClasses } from '../../core/detect';
import { averageMaps } from '../../core/pipeline';
import type { Recipe } from '../../core/recipe';
import { LruMap } from '../../core/lru';
import type { ScoreMap } from '../../core/scoremap';
import { remoteErrorMessage, isRemoteAbort, useApi } from '../api';
import { AUTO_PRESET_ID, DEFAULT_PRESET_ID, SCALE_PRESETS, parseScales } from '../scales';
import { newJobId, useJobsStore } from './jobs';
import { useModelStore } from './model';
import { usePhotosStore } from './photos';
import { useViewStore } from './view';

/** One class's strongest averaged score in this photo. */
export interface ClassRank {
  classIndex: number;
  label: string;
  score: number;
}

export interface ScaleState {
  scale: number;
  enabled: boolean;
  computed: boolean;
}

/** (model, preprocessing, photo) combinations whose maps are kept. */
const CACHE_KEEP = 6;

const sameScale = (a: number, b: number): boolean => Math.abs(a - b) < 1e-9;

/** The view store's recipe, looked up when used (the view store uses this one, so not at set-up). */
const recipeOf = (): Recipe => (useViewStore() as { recipe: Recipe }).recipe;

export const useScoresStore = defineStore('scores', () => {
  const api = useApi();
  const jobs = useJobsStore();
  const modelStore = useModelStore();
  const photosStore = usePhotosStore();

  const presetId = ref<string | null>(DEFAULT_PRESET_ID);
  const customScales = ref<number[]>([1]);
  /** Scales derived from the model's window and the photo's size (core/defaults), for the 'auto' preset. */
  const autoScales = computed<number[]>(() => {
    const m = modelStore.model;
    const p = photosStore.selected;
    return m && p ? defaultScales(m.info.window, [p.height, p.width]) : [];
  });
  const requested = computed<number[]>(() => {
    if (presetId.value === AUTO_PRESET_ID) return autoScales.value;
    if (presetId.value === null) return customScales.value;
    return [...(SCALE_PRESETS.find((p) => p.id === presetId.value)?.scales ?? [1])];
  });
  /** Requested scales at which the photo is smaller than the window: no cells there. */
  const emptyScales = computed<number[]>(() => {
    const m = modelStore.model;
    const p = photosStore.selected;
    return m && p ? scalesWithoutCells(m.info, [p.height, p.width], requested.value) : [];
  });
  const disabled = ref<number[]>([]);
  /** How the scales are combined: the view's recipe's mode (read when used: the view store uses this one). */
  const mode: WritableComputedRef<CombineMode> = computed({
    get: (): CombineMode => recipeOf().mode,
    set: (m: CombineMode) => {
      recipeOf().mode = m;
    },
  });
  /** key → (scale → map), the CACHE_KEEP most recent. Replaced, never mutated, so that shallowRef tracks it. */
  const cache = shallowRef(new LruMap<string, ReadonlyMap<number, ScoreMap>>({ maxEntries: CACHE_KEEP }));
  const running = shallowRef<{ jobId: string; key: string; scales: number[] } | null>(null);
  const elapsedMs = ref<number | null>(null);
  const error = ref<string | null>(null);
  const cancelled = ref(false);

  const key = computed(() => {
    const m = modelStore.model;
    const p = photosStore.selected;
    return m && p ? `${m.id}|${m.info.preprocess}|${p.id}` : null;
  });
  const available = computed(() => (key.value ? cache.value.peek(key.value) : undefined));
  const lookup = (s: number): ScoreMap | undefined => {
    for (const [scale, map] of available.value ?? []) if (sameScale(scale, s)) return map;
    return undefined;
  };
  const isEnabled = (s: number): boolean => !disabled.value.some((d) => sameScale(d, s));

  const scaleStates = computed<ScaleState[]>(() => requested.value.map((scale) => ({ scale, enabled: isEnabled(scale), computed: lookup(scale) !== undefined })));
  const missing = computed(() => requested.value.filter((s) => lookup(s) === undefined));
  /** The requested scales switched on: what the picture on screen averages once they are computed. */
  const enabledScales = computed<number[]>(() => requested.value.filter(isEnabled));
  /** The maps averaged: requested, switched on and computed, by ascending scale. */
  const keptMaps = computed<ScoreMap[]>(() => {
    const out: ScoreMap[] = [];
    for (const s of requested.value) {
      const map = isEnabled(s) ? lookup(s) : undefined;
      if (map) out.push(map);
    }
    return out;
  });
  /** Every kept scale was computed and none has a cell: the photo is smaller than the window at all of them. */
  const noCells = computed(() => keptMaps.value.length > 0 && keptMaps.value.every((m) => m.rows * m.cols === 0));
  /** core/pipeline's first stage, as exports average. */
  const averaged = computed<AveragedMap | null>(() => (keptMaps.value.length > 0 && !noCells.value ? averageMaps(keptMaps.value, modelStore.labels, mode.value) : null));

  const labelOf = (k: number): string => modelStore.labels[k] ?? `class ${k}`;
  /** Classes by their strongest averaged score in this photo, strongest first. */
  const ranking = computed<ClassRank[]>(() => {
    const avg = averaged.value;
    if (!avg) return [];
    return rankClasses(classMaxima(avg).map((m) => ({ classIndex: m.classIndex, label: labelOf(m.classIndex), score: m.score })), modelStore.labels);
  });
  /** Classes "any" covers: all but one labelled background. */
  const anyClasses = computed(() => (averaged.value ? defaultClasses(averaged.value.classes, modelStore.labels) : []));
  /** Per cell, the strongest class but background (a one-class map). */
  const anyMap = computed<AveragedMap | null>(() => (averaged.value ? maxOverClasses(averaged.value, anyClasses.value) : null));
  const anyScore = computed(() => (anyMap.value ? (classMaxima(anyMap.value)[0]?.score ?? 0) : 0));

  function store(k: string, scales: number[], maps: ScoreMap[]): void {
    const entry = new Map(cache.value.peek(k) ?? []);
    maps.forEach((map, i) => {
      const asked = scales.find((s) => sameScale(s, map.scale)) ?? scales[i];
      if (asked !== undefined) entry.set(asked, map);
    });
    cache.value = cache.value.copy().set(k, entry);
  }

  /** Computes the requested scales this photo lacks, in one computeScores call. */
  async function compute(): Promise<void> {
    const k = key.value;
    const model = modelStore.model;
    const photo = photosStore.selected;
    const scales = missing.value;
    if (!k || !model || !photo || scales.length === 0) return;
    const run = running.value;
    if (run) {
      if (run.key === k && scales.every((s) => run.scales.some((r) => sameScale(r, s)))) return;
      // Stale work (another photo, model or scale set): stop it, the workers are needed here.
      void jobs.cancel(run.jobId).catch(() => undefined);
    }
    const jobId = newJobId('scores');
    running.value = { jobId, key: k, scales };
    jobs.start(jobId, `Scores · ${photo.name}`);
    error.value = null;
    cancelled.value = false;
    let ok = false;
    try {
      const result = await api.computeScores({ jobId, modelId: model.id, photoId: photo.id, scales });
      store(k, scales, result.maps);
      elapsedMs.value = result.elapsedMs;
      ok = true;
      // A GPU provider can fail on a pass and hand the model to the CPU: the report says so once it has.
      const backend = modelStore.backend;
      if (backend?.backend === 'onnx' && backend.device !== 'cpu' && !backend.deviceFallbacks?.length) void modelStore.refreshBackend();
    } catch (err) {
      if (isRemoteAbort(err)) {
        if (running.value?.jobId === jobId) cancelled.value = true;
      } else {
        error.value = remoteErrorMessage(err);
      }
    } finally {
      jobs.finish(jobId);
      if (running.value?.jobId === jobId) running.value = null;
    }
    // The scale list may have grown while this ran.
    if (ok && missing.value.length > 0 && !running.value) await compute();
  }

  async function cancel(): Promise<void> {
    if (running.value) await jobs.cancel(running.value.jobId);
  }

  function setPreset(id: string): void {
    const preset = SCALE_PRESETS.find((p) => p.id === id);
    if (!preset) return;
    presetId.value = id;
    disabled.value = [];
  }

  /** Custom scales as typed; returns an error message, or null when taken. */
  function setCustom(text: string): string | null {
    const parsed = parseScales(text);
    if ('error' in parsed) return parsed.error;
    presetId.value = null;
    customScales.value = parsed.scales;
    disabled.value = [];
    return null;
  }

  function toggleScale(scale: number): void {
    disabled.value = isEnabled(scale) ? [...disabled.value, scale] : disabled.value.filter((d) => !sameScale(d, scale));
  }

  /** Remembered across restarts (the view store keeps it with its recipe). */
  function setMode(m: CombineMode): void {
    mode.value = m;
  }

  // Another model has another window: its scales come from it (the digit demo's ½ · ⅔ · 1 are the demo's).
  watch(() => modelStore.model?.id, (id, previous) => {
    if (previous !== undefined && id !== previous) setPreset(AUTO_PRESET_ID);
  });

  watch([key, requested], () => void compute(), { immediate: true });

  return {
    presetId, requested, disabled, mode, cache, running, elapsedMs, error, cancelled,
    key, scaleStates, missing, autoScales, enabledScales, emptyScales, noCells, keptMaps, averaged, ranking, anyClasses, anyMap, anyScore,
    compute, cancel, setPreset, setCustom, toggleScale, setMode,
  };
});
