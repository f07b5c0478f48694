// @vitest-environment happy-dom
/** Files dragged onto the window (renderer/drop.ts): the drop hint, and the items a drop hands on. */
import { describe, expect, it } from 'vitest';
import { useFileDrop, type DroppedItem } from '../../renderer/drop';
import { sortPaths } from '../../renderer/files';

/** A data-transfer item as Chromium gives one for a dropped file or folder. */
function fileItem(name: string, isDirectory: boolean) {
  const file = new File(['x'], name);
  return { kind: 'file', getAsFile: () => file, webkitGetAsEntry: () => ({ isDirectory }) };
}

/** A drag event carrying `types`, `items` and `files`, recording whether the default was prevented. */
function dragEvent(types: string[], items: unknown[] = [], files: File[] = []) {
  const e = {
    dataTransfer: { types, items, files, dropEffect: 'none' },
    prevented: false,
    preventDefault() {
      e.prevented = true;
    },
  };
  return e as typeof e & DragEvent;
}

describe('dragging files onto the window', () => {
  it('shows the hint while files are over it, through the enter/leave pairs of its child elements', () => {
    const drop = useFileDrop(() => undefined);
    const files = dragEvent(['Files']);
    drop.onDragEnter(files);
    drop.onDragEnter(files);
    drop.onDragLeave();
    expect(drop.dragging.value).toBe(true);
    drop.onDragLeave();
    expect(drop.dragging.value).toBe(false);
    // A stray leave (the count never goes below zero) does not keep the hint off on the next enter.
    drop.onDragLeave();
    drop.onDragEnter(files);
    expect(drop.dragging.value).toBe(true);
  });

  it('leaves drags of text or links to the browser: no hint, no copy cursor, default not prevented', () => {
    const drop = useFileDrop(() => undefined);
    const text = dragEvent(['text/plain', 'text/uri-list']);
    drop.onDragEnter(text);
    drop.onDragOver(text);
    expect(drop.dragging.value).toBe(false);
    expect(text.prevented).toBe(false);
    expect(text.dataTransfer.dropEffect).toBe('none');
    const files = dragEvent(['Files']);
    drop.onDragOver(files);
    expect(files.prevented).toBe(true);
    expect(files.dataTransfer.dropEffect).toBe('copy');
  });

  it('a drop hands on each file item with its folder flag, skips non-file items, and ends the hint', () => {
    const got: DroppedItem[][] = [];
    const drop = useFileDrop((items) => got.push(items));
    drop.onDragEnter(dragEvent(['Files']));
    const e = dragEvent(['Files'], [fileItem('day1', true), { kind: 'string', getAsFile: () => null }, fileItem('a.jpg', false)]);
    drop.onDrop(e);
    expect(e.prevented).toBe(true);
    expect(drop.dragging.value).toBe(false);
    expect(got.map((items) => items.map((it) => [it.file.name, it.isDirectory]))).toEqual([[['day1', true], ['a.jpg', false]]]);
  });

  it('without file items (an older data transfer) the plain file list is handed on, none of them a folder', () => {
    const got: DroppedItem[][] = [];
    const drop = useFileDrop((items) => got.push(items));
    drop.onDrop(dragEvent(['Files'], [], [new File(['x'], 'b.png'), new File(['x'], 'model.json')]));
    expect(got.map((items) => items.map((it) => [it.file.name, it.isDirectory]))).toEqual([[['b.png', false], ['model.json', false]]]);
  });
});

describe('sorting dropped paths into models, photos and folders (renderer/files.ts)', () => {
  it('takes model files and zips (a Teachable Machine download) as models, photos by their extension, folders and extension-less paths for main to sort', () => {
    const sorted = sortPaths([
      { path: '/m/model.json', isDirectory: false },
      { path: '/m/tm-my-image-model.zip', isDirectory: false },
      { path: '/m/net.onnx', isDirectory: false },
      { path: '/p/cat.JPG', isDirectory: false },
      { path: '/p/scans', isDirectory: true },
      { path: '/p/README', isDirectory: false },
    ]);
    expect(sorted).toEqual({ models: ['/m/model.json', '/m/tm-my-image-model.zip', '/m/net.onnx'], photos: ['/p/cat.JPG'], folders: ['/p/scans', '/p/README'] });
  });
});
