/** The demo scene, one recipe for the window's first launch and `convmap demo`. */
import sharp from '../io/sharp';
import { writeFileAtomic } from '../io/atomic';
import { makeDigitScene, type DigitScene } from './scene';

/** Held-out digits at three sizes on a 640×480 black scene; `seed` is the window's (the CLI takes --seed). */
export const DEMO_SCENE = Object.freeze({ width: 640, height: 480, count: 14, sizes: Object.freeze([28, 42, 56]), seed: 7 });

/**
 * Draws the demo scene and writes it to `file` as a PNG (atomically).
 * @param seed which digits go where; the same seed gives the same pixels
 * @returns the scene, with its digits' true boxes in the PNG's pixels
 */
export async function writeDemoScene(file: string, seed: number = DEMO_SCENE.seed): Promise<DigitScene> {
  const scene = makeDigitScene({ ...DEMO_SCENE, sizes: [...DEMO_SCENE.sizes], seed });
  await writeFileAtomic(file, await sharp(scene.rgb, { raw: { width: scene.width, height: scene.height, channels: 3 } }).png().toBuffer());
  return scene;
}
