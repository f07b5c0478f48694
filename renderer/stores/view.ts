/**
 * How the heatmap is drawn: the class, colormap, opacity, threshold, smooth or cell view, detections,
 * and what the pointer is over. Everything here is derived locally from the scores store.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef, watch } from 'vue';
import { sampleScoreMap, nearestCell } from '../../core/average';
import { isColormapName, type ColormapName } from '../../core/colormap';
import { backgroundIndex, defaultClassChoice, rankClasses } from '../../core/defaults';
import { detect, type Detection } from '../../core/detect';
import { ANY_CLASS, anyLabel, defaultView, drawnBoxes, drawnClasses, legendSpec, viewSource, type LegendSpec, type ViewSource } from '../../core/pipeline';
import { DEFAULT_RECIPE as DRAW_DEFAULTS, type MapView } from '../../core/recipe';
import { cellBox, type Box } from '../../core/scoremap';
import { formatScale } from '../scales';
import { useModelStore } from './model';
import { useScoresStore } from './scores';

/**
 * 'any': per location the strongest class but background; 'top': the photo's strongest class but
 * background (followed as the photo or scales change); a number: that class.
 */
export type ClassChoice = number | 'any' | 'top';

export interface HoverInfo {
  /** Point in original pixels. */
  y: number;
  x: number;
  top: { classIndex: number; label: string; score: number }[];
  /** The window the nearest cell of the best scale stands for, original pixels. */
  window: Box | null;
  /** Scale of that window, for display. */
  scale: string | null;
}

const SETTINGS_KEY = 'convmap.view.v1';

interface SavedSettings { colormap: ColormapName; opacity: number; threshold: number }

function storage(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

/** Applies saved settings that are still valid; anything else keeps the default. */
function restoreSettings(to: { colormap: { value: ColormapName }; opacity: { value: number }; threshold: { value: number } }): void {
  let saved: Partial<Record<keyof SavedSettings, unknown>> = {};
  try {
    saved = JSON.parse(storage()?.getItem(SETTINGS_KEY) ?? '{}') as typeof saved;
  } catch {
    return;
  }
  if (isColormapName(saved.colormap)) to.colormap.value = saved.colormap;
  const unit = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1;
  if (unit(saved.opacity)) to.opacity.value = saved.opacity;
  if (unit(saved.threshold)) to.threshold.value = saved.threshold;
}

function saveSettings(s: SavedSettings): void {
  try {
    storage()?.setItem(SETTINGS_KEY, JSON.stringify(s));
  } catch {
    // Storage full or disabled: the defaults come back next time.
  }
}

export const useViewStore = defineStore('view', () => {
  const scores = useScoresStore();
  const modelStore = useModelStore();

  const classChoice = ref<ClassChoice>(defaultClassChoice(modelStore.labels));
  const colormap = ref<ColormapName>(DRAW_DEFAULTS.colormap);
  const opacity = ref(DRAW_DEFAULTS.opacity);
  const threshold = ref(DRAW_DEFAULTS.threshold);
  const smooth = ref(true);
  /** What the overlay shows: the class's scores (absolute or relative to the photo) or the class map. */
  const view = ref<MapView>(defaultView(modelStore.labels));
  /** The legend over the photo, as exported pictures draw it. */
  const legend = ref(DRAW_DEFAULTS.legend);
  const showDetections = ref(DRAW_DEFAULTS.boxes);
  const detectThreshold = ref(DRAW_DEFAULTS.detectThreshold);
  const pointer = shallowRef<{ y: number; x: number } | null>(null);
  /** The overlay switched off for a moment, to compare with the photo (key H). */
  const overlayHidden = ref(false);

  // Colormap, opacity and threshold are remembered across restarts (the window's own storage).
  restoreSettings({ colormap, opacity, threshold });
  watch([colormap, opacity, threshold], () => saveSettings({ colormap: colormap.value, opacity: opacity.value, threshold: threshold.value }));

  // A class index means nothing for another model: every model starts at the default class.
  watch(() => modelStore.model?.id, () => {
    classChoice.value = defaultClassChoice(modelStore.labels);
    view.value = defaultView(modelStore.labels);
  });

  /** Whether the model has a background class (then "any (not background)" is offered). */
  const hasBackground = computed(() => backgroundIndex(modelStore.labels) >= 0);
  /** The photo's strongest class but background, or null before scores are in. */
  const topClass = computed<number | null>(() => scores.ranking[0]?.classIndex ?? null);
  /** The class index drawn for a single-class choice ('top' resolved), null for 'any' or before scores. */
  const shownClass = computed<number | null>(() => (classChoice.value === 'any' ? null : classChoice.value === 'top' ? topClass.value : classChoice.value));

  /** The class index drawn (ANY_CLASS for 'any'), or null before scores are in. */
  const drawnClass = computed<number | null>(() => {
    const avg = scores.averaged;
    if (!avg) return null;
    if (classChoice.value === 'any') return ANY_CLASS;
    const k = shownClass.value;
    return k !== null && k < avg.classes ? k : null;
  });

  /** What the overlay paints (core/pipeline viewSource, as exported pictures): a one-class map on a colour scale, or the class map. */
  const overlaySource = computed<ViewSource | null>(() => {
    const avg = scores.averaged;
    const k = drawnClass.value;
    if (!avg || k === null) return null;
    return viewSource(avg, k, modelStore.labels, { view: view.value, threshold: threshold.value });
  });

  /** The legend of what is drawn (core/pipeline legendSpec, as exported pictures draw it). */
  const legendOf = computed<LegendSpec | null>(() => {
    const src = overlaySource.value;
    const k = drawnClass.value;
    return src && k !== null ? legendSpec(src, modelStore.labels, k, { view: view.value, colormap: colormap.value, threshold: threshold.value }) : null;
  });

  const labelOf = (k: number): string => modelStore.labels[k] ?? `class ${k}`;
  const classTitle = computed(() => {
    if (view.value === 'classes') return 'class map';
    if (classChoice.value === 'any') return anyLabel(modelStore.labels);
    const k = shownClass.value;
    if (classChoice.value === 'top') return k === null ? 'top class' : `top class: ${labelOf(k)}`;
    return k === null ? 'class' : labelOf(k);
  });

  /** Core's detections of every class but background from the scales the picture shows (a class change does not recompute them). */
  const allDetections = computed<Detection[]>(() => {
    const maps = scores.keptMaps;
    if (!showDetections.value || maps.length === 0 || maps.every((m) => m.rows === 0 || m.cols === 0)) return [];
    return detect(maps, { threshold: detectThreshold.value, labels: modelStore.labels });
  });

  /** The boxes drawn: those of the drawn classes among allDetections, as exports draw them. */
  const detections = computed<Detection[]>(() => {
    const avg = scores.averaged;
    const k = shownClass.value;
    if (!avg || (classChoice.value !== 'any' && k === null)) return [];
    const classes = drawnClasses(classChoice.value === 'any' ? ANY_CLASS : (k as number), avg.classes, modelStore.labels, view.value);
    return drawnBoxes(allDetections.value, classes);
  });

  const hover = computed<HoverInfo | null>(() => {
    const p = pointer.value;
    const avg = scores.averaged;
    if (!p || !avg) return null;
    const [h, w] = avg.imageSize;
    if (p.y < 0 || p.x < 0 || p.y >= h || p.x >= w) return null;
    const r = Math.min(Math.floor(p.y / avg.cellSize[0]), avg.rows - 1);
    const c = Math.min(Math.floor(p.x / avg.cellSize[1]), avg.cols - 1);
    const cell = r * avg.cols + c;
    if (avg.coverage[cell] === 0) return { y: p.y, x: p.x, top: [], window: null, scale: null };
    const ranked: { classIndex: number; label: string; score: number }[] = [];
    for (let k = 0; k < avg.classes; k++) ranked.push({ classIndex: k, label: labelOf(k), score: avg.scores[cell * avg.classes + k] });
    // Background never leads the list: what matters at a point is which object it might be.
    const top = rankClasses(ranked, modelStore.labels).slice(0, 5);
    // The window of the scale that sees the shown class best here.
    const k = classChoice.value === 'any' ? top[0].classIndex : (shownClass.value ?? top[0].classIndex);
    let best = -1;
    let bestScore = -Infinity;
    scores.keptMaps.forEach((m, n) => {
      const s = sampleScoreMap(m, p.y, p.x, k);
      if (s !== undefined && s > bestScore) {
        bestScore = s;
        best = n;
      }
    });
    let window: Box | null = null;
    let scale: string | null = null;
    if (best >= 0) {
      const map = scores.keptMaps[best];
      const ij = nearestCell(map, p.y, p.x);
      if (ij) {
        window = cellBox(map, ij[0], ij[1]);
        scale = formatScale(map.scale);
      }
    }
    return { y: p.y, x: p.x, top, window, scale };
  });

  function setPointer(y: number, x: number): void {
    pointer.value = { y, x };
  }

  function clearPointer(): void {
    pointer.value = null;
  }

  return {
    classChoice, colormap, opacity, threshold, smooth, view, legend, showDetections, detectThreshold, pointer, overlayHidden,
    hasBackground, topClass, shownClass, drawnClass, overlaySource, legendOf, classTitle, detections, hover, setPointer, clearPointer,
  };
});
