import * as tf from '@tensorflow/tfjs';

/**
 * A VGG16-shaped classifier with random weights: 13 3×3 'same' convolutions in 5 blocks, 5 max-pools
 * (total stride 32, window 224), Flatten(7×7×512) → Dense 4096 → Dense 4096 → Dense classes.
 * @param widthDivisor 1 for full width (138 M parameters); larger divides every layer's width.
 */
export function vgg16(opts: { widthDivisor?: number; classes?: number; window?: number; padding?: 'same' | 'valid' } = {}): tf.Sequential {
  const d = opts.widthDivisor ?? 1;
  const w = opts.window ?? 224;
  const padding = opts.padding ?? 'same';
  const blocks = [[64, 2], [128, 2], [256, 3], [512, 3], [512, 3]];
  const model = tf.sequential({ name: 'vgg16' });
  let first = true;
  let seed = 1;
  for (const [filters, n] of blocks) {
    for (let i = 0; i < n; i++) {
      model.add(tf.layers.conv2d({
        ...(first ? { inputShape: [w, w, 3] } : {}),
        filters: Math.max(1, Math.round(filters / d)), kernelSize: 3, padding, activation: 'relu',
        kernelInitializer: tf.initializers.heNormal({ seed: seed++ }),
      }));
      first = false;
    }
    model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
  }
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: Math.max(1, Math.round(4096 / d)), activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: seed++ }) }));
  model.add(tf.layers.dropout({ rate: 0.5 }));
  model.add(tf.layers.dense({ units: Math.max(1, Math.round(4096 / d)), activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: seed++ }) }));
  model.add(tf.layers.dense({ units: opts.classes ?? 1000, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }) }));
  return model;
}
