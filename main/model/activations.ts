/**
 * Keras activations that TensorFlow.js 4 lacks, registered under the names tfjs reads them by (tfjs
 * camel-cases a config's strings: Keras 3's `hard_silu` arrives as `hardSilu`). Each computes
 * Keras's documented formula; main/onnx/export.ts maps the same names onto ONNX ops.
 * Importing this module registers them (build.ts does, so every model build sees them).
 */
import * as tf from '@tensorflow/tfjs';

type Fn = (x: tf.Tensor) => tf.Tensor;

/** Keras 3's hard_sigmoid, relu6(x + 3) / 6 (Keras 2's, tfjs's `hardSigmoid`, is clip(0.2·x + 0.5)). */
const hardSigmoid3: Fn = (x) => tf.div(tf.relu6(tf.add(x, 3)), 6);

/**
 * Keras activation name (tfjs spelling) → its formula. Keras 3 registers `silu` with alias `swish`,
 * `hard_silu` with alias `hard_swish`; `leaky_relu` defaults to negative_slope 0.2 in Keras 2 and 3.
 */
export const EXTRA_ACTIVATIONS: Readonly<Record<string, Fn>> = {
  silu: (x) => tf.mul(x, tf.sigmoid(x)),
  hardSilu: (x) => tf.mul(x, hardSigmoid3(x)),
  hardSwish: (x) => tf.mul(x, hardSigmoid3(x)),
  /** Renamed from `hard_sigmoid` in Keras 3 files by topology.ts. */
  keras3HardSigmoid: hardSigmoid3,
  leakyRelu: (x) => tf.leakyRelu(x, 0.2),
  exponential: (x) => tf.exp(x),
  hardTanh: (x) => tf.clipByValue(x, -1, 1),
  logSigmoid: (x) => tf.neg(tf.softplus(tf.neg(x))),
  celu: (x) => tf.where(tf.greater(x, 0), x, tf.sub(tf.exp(x), 1)),
  /**
   * tfjs's own `gelu_new` (GELU's tanh form, an ONNX Gelu with approximate "tanh"), under the name a
   * model's config round trip gives it: tfjs camel-cases it to `geluNew` and then cannot find it.
   */
  geluNew: (x) => tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI))), 1)),
};

/** The Keras 3 config spelling that topology.ts rewrites `hard_sigmoid` to (camel-cased by tfjs). */
export const KERAS3_HARD_SIGMOID = 'keras3_hard_sigmoid';

function register(name: string, fn: Fn): void {
  class ExtraActivation extends tf.serialization.Serializable {
    static className = name;
    override getClassName(): string {
      return name;
    }
    apply(x: tf.Tensor): tf.Tensor {
      return tf.tidy(() => fn(x));
    }
    override getConfig(): tf.serialization.ConfigDict {
      return {};
    }
  }
  tf.serialization.registerClass(ExtraActivation);
}

for (const [name, fn] of Object.entries(EXTRA_ACTIVATIONS)) register(name, fn);
