/**
 * How the heatmap is drawn: the class, colormap, opacity, threshold, smooth or cell view, detections,
 * and what the pointer is over. Everything here is derived locally from the scores store.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef, watch } from 'vue';
import type { AveragedMap } from '../../core/average';
import { sampleScoreMap, nearestCell } from '../../core/average';
import type { ColormapName } from '../../core/colormap';
import { detect, type Detection } from '../../core/detect';
import { cellBox, type Box } from '../../core/scoremap';
import { formatScale } from '../scales';
import { useModelStore } from './model';
import { useScoresStore } from './scores';

/** 'any': per location the strongest class but background; a number: that class. */
export type ClassChoice = number | 'any';

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

export const useViewStore = defineStore('view', () => {
  const scores = useScoresStore();
  const modelStore = useModelStore();

  const classChoice = ref<ClassChoice>('any');
  const colormap = ref<ColormapName>('turbo');
  const opacity = ref(0.65);
  const threshold = ref(0.2);
  const smooth = ref(true);
  const showDetections = ref(false);
  const detectThreshold = ref(0.5);
  const pointer = shallowRef<{ y: number; x: number } | null>(null);

  watch(() => modelStore.model?.id, () => {
    const classes = modelStore.labels.length;
    if (typeof classChoice.value === 'number' && classChoice.value >= classes) classChoice.value = 'any';
  });

  /** The one-class map and class index renderOverlay draws. */
  const overlaySource = computed<{ map: AveragedMap; classIndex: number } | null>(() => {
    if (classChoice.value === 'any') return scores.anyMap ? { map: scores.anyMap, classIndex: 0 } : null;
    const avg = scores.averaged;
    return avg && classChoice.value < avg.classes ? { map: avg, classIndex: classChoice.value } : null;
  });

  const classTitle = computed(() => (classChoice.value === 'any' ? 'any (not background)' : (modelStore.labels[classChoice.value] ?? `class ${classChoice.value}`)));

  const detections = computed<Detection[]>(() => {
    const maps = scores.keptMaps;
    if (!showDetections.value || maps.length === 0) return [];
    const classes = classChoice.value === 'any' ? scores.anyClasses : [classChoice.value];
    return detect(maps, { threshold: detectThreshold.value, labels: modelStore.labels, mode: scores.mode, classes });
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
    for (let k = 0; k < avg.classes; k++) ranked.push({ classIndex: k, label: modelStore.labels[k] ?? `class ${k}`, score: avg.scores[cell * avg.classes + k] });
    ranked.sort((a, b) => b.score - a.score);
    const top = ranked.slice(0, 5);
    // The window of the scale that sees the shown class best here.
    const k = classChoice.value === 'any' ? (top.find((t) => scores.anyClasses.includes(t.classIndex))?.classIndex ?? top[0].classIndex) : classChoice.value;
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
    classChoice, colormap, opacity, threshold, smooth, showDetections, detectThreshold, pointer,
    overlaySource, classTitle, detections, hover, setPointer, clearPointer,
  };
});
