import { equivalenceGrade, type ConvertedModelInfo, type EquivalenceReport } from '../../core/model-info';
import { printable } from '../../core/printable';
import type { OnnxCheck } from '../onnx/verify';

function pairText(p: [number, number]): string {
  return `${p[0]}×${p[1]}`;
}

function percent(share: number): string {
  return `${(share * 100).toFixed(share > 0 && share < 0.01 ? 2 : 1)}%`;
}

/** A warning line for the CLI when the converted model is only an approximation of its crops, else null. */
export function approximationWarning(eq: EquivalenceReport): string | null {
  if (equivalenceGrade(eq) === 'not representative') {
    return `warning: the converted map is NOT REPRESENTATIVE of the classifier: ${eq.notRepresentative ?? 'the top class differs from the crop\'s in most cells'}; do not read its heatmaps as what the classifier sees`;
  }
  if (equivalenceGrade(eq) !== 'approximate') return null;
  const why = eq.topClassMismatch !== undefined ? `the top class differs from the crop's in ${percent(eq.topClassMismatch)} of cells` : 'cells differ from crops';
  return `warning: the converted model only approximates the classifier (${why}); read its heatmaps as indicative`;
}

/**
 * A warning line when the preprocessing was guessed from a layer's name only (--preprocess settles it),
 * else null. A grey model guessed `unit` is also told of `ink`: most are digit or sketch classifiers
 * trained on white strokes on black, which read a photo of dark ink on paper only inverted.
 */
export function preprocessWarning(info: ConvertedModelInfo): string | null {
  const g = info.preprocessGuess;
  if (!g?.uncertain) return null;
  const ink = info.channels === 1 && info.preprocess === 'unit' ? ' (--preprocess ink for a model of white strokes on black given dark ink on light photos)' : '';
  return `warning: preprocessing '${info.preprocess}' ${g.why}; pass --preprocess if the scores look wrong${ink}`;
}

/** The outputs of a multi-output model, the converted one marked; nothing for a single output. */
function outputLines(info: ConvertedModelInfo): string[] {
  const outputs = info.outputs ?? [];
  if (outputs.length < 2) return [];
  return outputs.map((o, i) => {
    const mark = o.name === info.output ? 'converted' : 'not converted';
    return `${i === 0 ? 'outputs     ' : '            '}${o.name} [${o.shape.slice(1).join(', ')}] ${o.kind}, ${mark}${o.note ? `: ${o.note}` : ''}`;
  });
}

/** The human-readable conversion report printed by `convmap convert`; `onnx` is the ONNX Runtime check when it ran. */
export function formatReport(info: ConvertedModelInfo, backend: string, onnx?: OnnxCheck): string {
  const eq = info.equivalence;
  const labels = info.labels.length > 8 ? `${info.labels.slice(0, 8).join(', ')}, … (${info.labels.length})` : info.labels.join(', ');
  const lines = [
    `model       ${info.source}`,
    `window      ${pairText(info.window)} px, ${info.channels} channel${info.channels === 1 ? '' : 's'}`,
    `stride      ${pairText(info.stride)} px${info.networkStride && pairText(info.networkStride) !== pairText(info.stride) ? ` (network ${pairText(info.networkStride)}, à trous rewrite)` : ''}`,
    ...(info.strideRewrite ?? []).map((r) => `              ${r}`),
    `head found  after ${info.boundary.layer} (${info.boundary.shape.join('×')})`,
    ...info.head.map((h, i) => `${i === 0 ? 'head      ' : '          '}  ${h}`),
    `labels      ${labels}${info.labelsFile ? ` (from ${info.labelsFile})` : ''}`,
    ...outputLines(info),
    ...(info.quantization
      ? [`weights     quantised (${info.quantization.dtypes.join(', ')}: ${info.quantization.weights} of ${info.quantization.total} weights), dequantised on load: scores carry the quantisation error`]
      : []),
    `padding     ${info.padding}`,
    `preprocess  ${info.preprocess}${info.preprocessGuess ? ` (${info.preprocessGuess.why})` : ''}`,
    `equivalence ${equivalenceGrade(eq)}: ${eq.cellsChecked} cells on a ${pairText(eq.inputSize)} input, max |diff| ${eq.maxAbsDiff.toExponential(2)}, relative ${eq.maxRelDiff.toExponential(2)}`,
    ...(eq.meanAbsDiff !== undefined && eq.topClassMismatch !== undefined
      ? [`            mean |diff| ${eq.meanAbsDiff.toExponential(2)}, top class differs from the crop's in ${percent(eq.topClassMismatch)} of cells`]
      : []),
    ...(eq.note ? [`            ${eq.note}`] : []),
    ...(onnx
      ? [`onnx        ONNX Runtime vs tfjs on a ${pairText(onnx.inputSize)} input: max |diff| ${onnx.maxAbsDiff.toExponential(2)}, relative ${onnx.maxRelDiff.toExponential(2)}`]
      : []),
    `backend     ${backend}`,
  ];
  // Source path, labels and layer names come from the model's files: control characters escaped.
  return lines.map(printable).join('\n');
}
