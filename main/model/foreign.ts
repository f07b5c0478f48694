/**
 * Model files of other frameworks that people bring instead of one Convmap opens (Keras, TensorFlow.js
 * Layers, ONNX), told by their content where it says (a zip's entry names, magic bytes) and else by
 * their name: each gets one line saying what it is and what to open instead, not the parse error of the
 * reader it happened to reach ("is not valid JSON").
 */
import { hasPhotoExtension } from '../../core/formats';

/** How many of a file's first bytes {@link foreignFileReason} looks at. */
export const FOREIGN_HEAD_BYTES = 64;

const ONNX_EXPORT = 'export the classifier to ONNX (torch.onnx.export(model.eval(), torch.rand(1, 3, H, W), "model.onnx")) and open that file';
const TF_EXPORT = 'save the classifier from Keras (model.save("model.keras")) or convert it to ONNX (python -m tf2onnx.convert) and open that file';

/**
 * What a zip archive that is not a Keras 3 `.keras` file holds, from its entry names: a PyTorch
 * checkpoint or TorchScript program (`<name>/data.pkl`), or a download that holds a model to unzip
 * (Teachable Machine's TensorFlow.js and Keras exports); undefined when none of these.
 * @param entries the archive's entry names, as its directory lists them.
 */
export function foreignZipReason(entries: readonly string[]): string | undefined {
  const base = (e: string): string => e.slice(e.lastIndexOf('/') + 1);
  if (entries.some((e) => /(^|\/)code\//.test(e) || base(e) === 'constants.pkl')) {
    return `is a TorchScript program (torch.jit.save): Convmap reads ONNX graphs, not TorchScript; ${ONNX_EXPORT}`;
  }
  if (entries.some((e) => base(e) === 'data.pkl')) {
    return `is a PyTorch checkpoint (torch.save): it holds weights, not the network that uses them; ${ONNX_EXPORT}`;
  }
  const names = entries.map(base);
  const inside = entries.filter((e) => /\.(keras|h5|hdf5|onnx)$/i.test(e) && !/\.weights\.h5$/i.test(e));
  if (names.includes('model.json')) {
    const tm = names.includes('metadata.json') ? 'a Teachable Machine download (TensorFlow.js)' : 'a zip of a TensorFlow.js model';
    return `is ${tm}: unzip it and open the folder that holds model.json`;
  }
  if (inside.length > 0) {
    const tm = names.includes('keras_model.h5') && names.includes('labels.txt') ? 'a Teachable Machine download (Keras)' : 'a zip that holds a model';
    return `is ${tm}: unzip it and open ${inside.slice(0, 3).join(', ')}${names.includes('labels.txt') ? ' (labels.txt beside it names the classes)' : ''}`;
  }
  if (names.includes('saved_model.pb')) return `is a zip of a TensorFlow SavedModel: Convmap does not read SavedModels; ${TF_EXPORT}`;
  const photos = names.filter((n) => hasPhotoExtension(n)).length;
  if (photos > 0) return `is a zip of ${photos === 1 ? 'a photo' : `${photos} photos`}, not of a model: unzip it and open the folder as photos`;
  return undefined;
}

/**
 * What a single file is when its first bytes or its name say it is another framework's model:
 * TensorFlow Lite (`TFL3` at byte 4), a Python pickle (PyTorch's torch.save before 1.6), safetensors
 * (an 8-byte header length, then its JSON header), TensorFlow's SavedModel or frozen graph, Core ML,
 * Caffe, OpenVINO, Paddle, MXNet, TensorRT by name; undefined for anything else.
 * @param name the file's name (its folder's name is not looked at).
 * @param head the file's first bytes ({@link FOREIGN_HEAD_BYTES} are enough).
 */
export function foreignFileReason(name: string, head: Uint8Array): string | undefined {
  const text = (from: number, to: number): string => String.fromCharCode(...head.subarray(from, to));
  const ext = /\.([^./\\]+)$/.exec(name)?.[1]?.toLowerCase() ?? '';
  if (head.length >= 8 && text(4, 8) === 'TFL3') {
    return 'is a TensorFlow Lite model: Convmap reads Keras, TensorFlow.js Layers and ONNX files; export the Keras or TensorFlow.js model instead (Teachable Machine: Export Model → TensorFlow → Keras, or → TensorFlow.js), or convert this file to ONNX (python -m tf2onnx.convert --tflite FILE --output model.onnx)';
  }
  if (head.length >= 2 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) {
    return `is a Python pickle (PyTorch's torch.save before 1.6, or another library's): it holds weights or Python objects, not a network Convmap can read; ${ONNX_EXPORT}`;
  }
  if (head.length >= 9 && head[8] === 0x7b && head[6] === 0 && head[7] === 0 && ext === 'safetensors') {
    return `is a safetensors file: it holds weights, not the network that uses them; ${ONNX_EXPORT}`;
  }
  if (ext === 'tflite' || ext === 'lite') {
    return foreignFileReason(name, Uint8Array.from([0, 0, 0, 0, 0x54, 0x46, 0x4c, 0x33]));
  }
  if (['safetensors', 'pth', 'pt', 'ckpt'].includes(ext) || (ext === 'bin' && /pytorch_model/i.test(name))) {
    return `looks like PyTorch weights (.${ext}): they hold no network Convmap can read; ${ONNX_EXPORT}`;
  }
  if (name === 'saved_model.pb' || name === 'saved_model.pbtxt') return `is a TensorFlow SavedModel's graph: Convmap does not read SavedModels; ${TF_EXPORT}`;
  if (ext === 'pb' || ext === 'pbtxt') return `looks like a TensorFlow graph (.${ext}): Convmap does not read TensorFlow graphs (an ONNX file named .pb: rename it .onnx); ${TF_EXPORT}`;
  if (ext === 'mlmodel' || ext === 'mlpackage') return 'is a Core ML model: Convmap reads Keras, TensorFlow.js Layers and ONNX files; open the model it was converted from';
  if (ext === 'caffemodel' || ext === 'prototxt') return 'is a Caffe model: Convmap reads ONNX files; convert it to ONNX first (the ONNX model zoo holds many Caffe classifiers already converted)';
  if (ext === 'pdmodel' || ext === 'pdparams') return 'is a PaddlePaddle model: convert it to ONNX first (paddle2onnx) and open that file';
  if (ext === 'params') return 'looks like MXNet parameters: convert the model to ONNX first (mxnet.onnx.export_model) and open that file';
  if (ext === 'engine' || ext === 'trt' || ext === 'plan') return 'is a TensorRT engine: open the ONNX file it was built from';
  if (ext === 'xml' && /<net\b/.test(text(0, head.length))) return 'is an OpenVINO model: open the ONNX file it was converted from';
  return undefined;
}

/**
 * A folder that holds another framework's model instead of one Convmap opens: a TensorFlow SavedModel
 * (saved_model.pb), or exactly one file {@link foreignFileReason} names by its name.
 * @param entries the folder's entry names.
 */
export function foreignFolderReason(entries: readonly string[]): string | undefined {
  if (entries.includes('saved_model.pb') || entries.includes('saved_model.pbtxt')) return `is a TensorFlow SavedModel folder: Convmap does not read SavedModels; ${TF_EXPORT}`;
  const named = entries.map((e) => ({ e, why: foreignFileReason(e, new Uint8Array(0)) })).filter((x) => x.why !== undefined);
  if (named.length === 1) return `holds ${named[0].e}, which ${named[0].why}`;
  return undefined;
}
