/** The nested input folder that the sub-folder tests of the window's export and of `heatmap --recursive` share. */
import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * Same-named photos in different sub-folders, each of its own size (width, height in pixels), so an
 * output shows which photo it came from.
 */
export const NESTED_PHOTOS = [['a/x.png', 120, 90], ['b/x.png', 90, 120], ['b/deeper/x.png', 100, 100], ['top.png', 128, 96]] as const;

/** Writes {@link NESTED_PHOTOS} under root with `write` (file, width, height, seed 1…4). */
export async function writeNestedPhotos(root: string, write: (file: string, width: number, height: number, seed: number) => Promise<void>): Promise<void> {
  for (const [i, [rel, width, height]] of NESTED_PHOTOS.entries()) {
    const file = path.join(root, rel);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await write(file, width, height, i + 1);
  }
}
