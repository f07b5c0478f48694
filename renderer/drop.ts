/** Files dragged onto the window: the drop hint while they are over it, and what a drop hands on. */
import { ref, type Ref } from 'vue';

/** One dropped item: its File (the preload turns it into a path) and whether it is a folder. */
export interface DroppedItem {
  file: File;
  isDirectory: boolean;
}

export interface FileDrop {
  /** True while files (not text or links) are dragged over the element. */
  dragging: Ref<boolean>;
  onDragEnter(e: DragEvent): void;
  onDragOver(e: DragEvent): void;
  onDragLeave(): void;
  onDrop(e: DragEvent): void;
}

function hasFiles(e: DragEvent): boolean {
  return Array.from(e.dataTransfer?.types ?? []).includes('Files');
}

/**
 * The drag handlers of one drop target. A drop hands `drop` its items: the data transfer's file
 * items with their folder flag (from the item's entry), else its plain file list (no folders known).
 */
export function useFileDrop(drop: (items: DroppedItem[]) => void): FileDrop {
  const dragging = ref(false);
  // dragenter and dragleave fire for every child element the pointer crosses.
  let depth = 0;
  return {
    dragging,
    onDragEnter(e) {
      if (!hasFiles(e)) return;
      depth += 1;
      dragging.value = true;
    },
    onDragOver(e) {
      if (!hasFiles(e)) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    },
    onDragLeave() {
      depth = Math.max(0, depth - 1);
      if (depth === 0) dragging.value = false;
    },
    onDrop(e) {
      e.preventDefault();
      depth = 0;
      dragging.value = false;
      const dt = e.dataTransfer;
      if (!dt) return;
      const items: DroppedItem[] = [];
      for (const item of Array.from(dt.items ?? [])) {
        if (item.kind !== 'file') continue;
        const file = item.getAsFile();
        if (file) items.push({ file, isDirectory: item.webkitGetAsEntry?.()?.isDirectory ?? false });
      }
      if (items.length === 0) for (const file of Array.from(dt.files)) items.push({ file, isDirectory: false });
      drop(items);
    },
  };
}
