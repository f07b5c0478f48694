/**
 * How the heatmap is drawn, as one core/recipe Recipe (the class, view, colormap, opacity,
 * threshold, smooth or cell view, detections, legend, mean/max; exports and batches send it), and
 * what the pointer is over. Everything drawn is derived locally from the scores store through
 * core/pipeline's stages (chooseClass, findDetections, drawnBoxes, viewSource), as exports are.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef, watch } from 'vue';
import { sampleScoreMap, nearestCell } from '../../core/average';
import { backgroundIndex, defaultClassChoice, rankClasses } from '../../core/defaults';
import type { Detection } from '../../core/detect';
import {
  ANY_CLASS, anyLabel, chooseClass, drawnBoxes, drawnClasses, findDetections, legendSpec, namedClass, viewFor, viewSource, type LegendSpec, type ViewSource,
} from '../../core/pipeline';
import { makeRecipe, RECIPE_CHECKS, type MapView, type Recipe } from '../../core/recipe';
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

/** Where the window remembers its settings across restarts (its own storage). */
const SETTINGS_KEY = 'convmap.view.v1';
const MODE_KEY = 'convmap.mode.v1';
/** The recipe fields remembered across restarts. */
const REMEMBERED = ['colormap', 'opacity', 'threshold'] as const;

function storage(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

/**
 * Applies remembered settings that pass core/recipe's own checks (RECIPE_CHECKS); anything else
 * keeps the default.
 */
function restoreSettings(to: Recipe): void {
  let saved: Record<string, unknown> = {};
  try {
    saved = { ...JSON.parse(storage()?.getItem(SETTINGS_KEY) ?? '{}') as Record<string, unknown>, mode: storage()?.getItem(MODE_KEY) ?? undefined };
  } catch {
    return;
  }
  const fields = [...REMEMBERED, 'mode'] as const;
  for (const k of fields) {
    if (saved[k] !== undefined && RECIPE_CHECKS[k](saved[k]) === undefined) Object.assign(to, { [k]: saved[k] });
  }
}

function save(key: string, value: string): void {
  try {
    storage()?.setItem(key, value);
  } catch {
    // Storage full or disabled: the defaults come back next time.
  }
}

/**
 * The class a recipe's class choice means for the window's controls: 'any', 'top' or a class
 * index (a label or index as text, core/pipeline namedClass); null, or a class this model lacks:
 * the model's default.
 */
function choiceOf(choice: string | null, labels: readonly string[]): ClassChoice {
  const c = choice ?? defaultClassChoice(labels);
  if (c === 'any' || c === 'top') return c;
  try {
    return namedClass(c, labels);
  } catch {
    return defaultClassChoice(labels);
  }
}

/** The recipe's text for a class index: its label when that names it (core/pipeline namedClass looks labels up first), else the index. */
function choiceText(k: number, labels: readonly string[]): string {
  const label = labels[k];
  return label !== undefined && labels.indexOf(label) === k ? label : String(k);
}

export const useViewStore = defineStore('view', () => {
  const scores = useScoresStore();
  const modelStore = useModelStore();

  /**
   * The window's one recipe (core/recipe): what the view draws, and what exports and batches send
   * (renderer/stores/batch; its scales are filled in there with the scales switched on). A null
   * class choice or view is the model's default. The window writes no score file unless asked.
   */
  const recipe = ref<Recipe>(makeRecipe({ scores: 'none' }));
  // Colormap, opacity, threshold and the mean/max mode are remembered across restarts.
  restoreSettings(recipe.value);
  watch(() => REMEMBERED.map((k) => recipe.value[k]), () => save(SETTINGS_KEY, JSON.stringify(Object.fromEntries(REMEMBERED.map((k) => [k, recipe.value[k]])))));
  watch(() => recipe.value.mode, (m) => save(MODE_KEY, m));

  /** A recipe field as a read-write computed, for v-model bindings. */
  const field = <K extends keyof Recipe>(k: K) => computed<Recipe[K]>({
    get: () => recipe.value[k],
    set: (v) => {
      recipe.value[k] = v;
    },
  });
  const colormap = field('colormap');
  const opacity = field('opacity');
  const threshold = field('threshold');
  const smooth = field('smooth');
  /** The legend over the photo, as exported pictures draw it. */
  const legend = field('legend');
  const showDetections = field('boxes');
  const detectThreshold = field('detectThreshold');
  /** 'any', 'top' or a class index (the recipe holds its label). */
  const classChoice = computed<ClassChoice>({
    get: () => choiceOf(recipe.value.classChoice, modelStore.labels),
    set: (c) => {
      recipe.value.classChoice = typeof c === 'number' ? choiceText(c, modelStore.labels) : c;
    },
  });
  /** What the overlay shows: the class's scores (absolute or relative to the photo) or the class map. */
  const view = computed<MapView>({
    get: () => viewFor(recipe.value.view, modelStore.labels),
    set: (v) => {
      recipe.value.view = v;
    },
  });
  const pointer = shallowRef<{ y: number; x: number } | null>(null);
  /** The overlay switched off for a moment, to compare with the photo (key H). */
  const overlayHidden = ref(false);

  // A class index means nothing for another model: every model starts at the default class and view.
  watch(() => modelStore.model?.id, () => {
    recipe.value.classChoice = null;
    recipe.value.view = null;
  });

  /** Whether the model has a background class (then "any (not background)" is offered). */
  const hasBackground = computed(() => backgroundIndex(modelStore.labels) >= 0);
  /** The photo's strongest class but background (core/pipeline chooseClass 'top'), or null before scores are in. */
  const topClass = computed<number | null>(() => (scores.averaged ? chooseClass('top', modelStore.labels, scores.averaged) : null));
  /** The class index drawn for a single-class choice ('top' resolved), null for 'any' or before scores. */
  const shownClass = computed<number | null>(() => (classChoice.value === 'any' ? null : classChoice.value === 'top' ? topClass.value : classChoice.value));

  /** The class index drawn (ANY_CLASS for 'any'; core/pipeline chooseClass, as exports choose it), or null before scores are in. */
  const drawnClass = computed<number | null>(() => {
    const avg = scores.averaged;
    if (!avg) return null;
    try {
      const k = chooseClass(recipe.value.classChoice, modelStore.labels, avg);
      return k === ANY_CLASS || k < avg.classes ? k : null;
    } catch {
      // A class of the model before (the choice is reset right after a model change).
      return null;
    }
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
  const allDetections = computed<Detection[]>(() => (showDetections.value ? findDetections(scores.keptMaps, modelStore.labels, detectThreshold.value) : []));

  /** The boxes drawn: those of the drawn classes among allDetections, as exports draw them. */
  const detections = computed<Detection[]>(() => {
    const avg = scores.averaged;
    const k = drawnClass.value;
    if (!avg || k === null) return [];
    return drawnBoxes(allDetections.value, drawnClasses(k, avg.classes, modelStore.labels, view.value));
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
    recipe, classChoice, colormap, opacity, threshold, smooth, view, legend, showDetections, detectThreshold, pointer, overlayHidden,
    hasBackground, topClass, shownClass, drawnClass, overlaySource, legendOf, classTitle, detections, hover, setPointer, clearPointer,
  };
});
