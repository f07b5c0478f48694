/**
 * Why a layer class cannot be run or converted, in words a user can act on (class 7 of issue 9):
 * custom layers, Lambda, quantisation-aware layers, recurrent and per-frame (video) layers.
 */

const RECURRENT = new Set([
  'LSTM', 'GRU', 'SimpleRNN', 'RNN', 'LSTMCell', 'GRUCell', 'SimpleRNNCell', 'StackedRNNCells',
  'ConvLSTM1D', 'ConvLSTM2D', 'ConvLSTM3D', 'Bidirectional', 'TimeDistributed', 'CuDNNLSTM', 'CuDNNGRU',
]);

/**
 * Built-in Keras layers that TensorFlow.js has no class for: normalisations over groups or whole
 * vectors, and attention. Not custom layers, so their refusal says so.
 */
const KERAS_WITHOUT_TFJS = new Set([
  'GroupNormalization', 'UnitNormalization', 'SpectralNormalization', 'EinsumDense',
  'MultiHeadAttention', 'GroupedQueryAttention', 'Attention', 'AdditiveAttention',
]);

/** Keras 3 preprocessing layers that act at inference from whole-image statistics (not augmentation). */
const PER_IMAGE = new Set(['AutoContrast', 'Equalization']);

/** A quantisation-aware layer of TensorFlow Model Optimization (QuantizeWrapper…) or Larq (QuantConv2D…). */
function isQuantAware(className: string): boolean {
  return /^Quantize(Wrapper(V2)?|Layer|Annotate)$/.test(className) || /^Quant[A-Z]/.test(className);
}

/**
 * The refusal for a layer class Convmap cannot handle as an image classifier's layer, or null when
 * the class is not one of the known unsupported kinds.
 * @param known whether TensorFlow.js has the class (an unknown class is a custom layer)
 */
export function unsupportedLayerReason(className: string, known: boolean): string | null {
  if (className === 'Lambda') {
    return 'a Lambda layer holds Python code that only Keras in Python can run: rebuild the model with built-in layers in place of the Lambda, export it again and open that';
  }
  if (className === 'TFOpLambda' || className === 'SlicingOpLambda') {
    return 'a TensorFlow operation recorded by Keras 2\'s functional API that Convmap cannot convert ' +
      '(it converts tf.math/tf.__operators__ add, subtract, multiply and divide by a number, and tf.nn activations): rebuild the model with Keras layers in its place';
  }
  if (PER_IMAGE.has(className)) {
    return `${className} changes each image from statistics of the whole image, so a window of a photo would be changed differently from the same crop: ` +
      'export the model without it (and apply it to photos before opening them, if it matters)';
  }
  if (isQuantAware(className)) {
    return 'a quantisation-aware training layer (TensorFlow Model Optimization or Larq): export the model\'s float version ' +
      '(without quantize_model/QuantizeWrapper, or Larq\'s float weights) and open that';
  }
  if (RECURRENT.has(className)) {
    return 'a recurrent or per-frame layer (sequence or video model): Convmap converts classifiers of one image; open an image classifier instead';
  }
  if (KERAS_WITHOUT_TFJS.has(className)) {
    return `Keras's ${className} layer, which TensorFlow.js does not have, so Convmap cannot convert this model; export a model without it`;
  }
  if (!known) {
    return `unknown layer class "${className}": a custom layer from the training code, which TensorFlow.js does not have, so Convmap cannot run this model; ` +
      'export a model made only of built-in Keras layers';
  }
  return null;
}
