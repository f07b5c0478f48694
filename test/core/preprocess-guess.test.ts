import { describe, expect, it } from 'vitest';
import { guessFromTrunk, guessSmallGrey } from '../../core/preprocess-guess';

// Names are those keras.applications gives its models (Keras 2.15 / 3); modes are what each
// application's preprocess_input does (keras docs): tf → [-1, 1], torch → ImageNet mean/std,
// none → raw 0–255 (the model rescales itself), caffe → BGR mean subtraction (no mode does it).
describe('preprocessing guessed from a nested keras.applications trunk', () => {
  it.each([
    ['mobilenet_0.25_224', 'signed'], ['mobilenet_1.00_128', 'signed'], ['mobilenetv2_1.00_224', 'signed'],
    ['MobilenetV3large', 'raw'], ['MobilenetV3small', 'raw'], ['efficientnetb0', 'raw'], ['efficientnetv2-s', 'raw'],
    ['resnet50v2', 'signed'], ['inception_v3', 'signed'], ['xception', 'signed'], ['inception_resnet_v2', 'signed'],
    ['densenet121', 'imagenet'],
  ])('%s → %s, saying which trunk', (name, mode) => {
    const g = guessFromTrunk(['sequential_2', name]);
    expect(g).toEqual({ mode, why: `guessed from the nested keras.applications trunk '${name}'`, uncertain: true });
  });

  it('guesses caffe (BGR, ImageNet mean subtracted) for caffe-style trunks (ResNet v1, VGG)', () => {
    for (const name of ['resnet50', 'resnet101', 'vgg16', 'vgg19']) {
      expect(guessFromTrunk([name])).toEqual({ mode: 'caffe', why: `guessed from the nested keras.applications trunk '${name}'`, uncertain: true });
    }
  });

  it('guesses nothing from other nested models', () => {
    expect(guessFromTrunk(['sequential', 'model_1', 'my_mobilenet_head', 'functional_3'])).toBeNull();
  });
});

// MNIST, EMNIST, KMNIST and Fashion-MNIST are 28×28, LeNet-5's padded MNIST 32×32, QuickDraw's bitmaps 28×28: all
// light on black. FER2013's faces are 48×48 grey and read as they are; colour models are never inverted.
describe('a small grey classifier is guessed ink', () => {
  it.each([
    [1, [28, 28]], [1, [32, 32]], [1, [28, 20]], [1, [8, 8]],
  ] as const)('%i channel(s), %j → ink', (channels, window) => {
    const g = guessSmallGrey(channels, window);
    expect(g?.mode).toBe('ink');
    expect(g?.why).toBe(`guessed: a grey classifier of ${window[0]}×${window[1]} pixels, as MNIST-like datasets are light strokes on black: x / 255, inverted on a light photo`);
  });

  it.each([
    [1, [33, 33]], [1, [48, 48]], [1, [28, 64]], [3, [28, 28]], [3, [32, 32]], [4, [16, 16]],
  ] as const)('%i channel(s), %j → no guess', (channels, window) => {
    expect(guessSmallGrey(channels, window)).toBeNull();
  });
});
