import type { ConvertedModelInfo } from '../../core/model-info';

function pairText(p: [number, number]): string {
  return `${p[0]}×${p[1]}`;
}

/** The human-readable conversion report printed by `convmap convert`. */
export function formatReport(info: ConvertedModelInfo, backend: string): string {
  const eq = info.equivalence;
  const labels = info.labels.length > 8 ? `${info.labels.slice(0, 8).join(', ')}, … (${info.labels.length})` : info.labels.join(', ');
  const lines = [
    `model       ${info.source}`,
    `window      ${pairText(info.window)} px, ${info.channels} channel${info.channels === 1 ? '' : 's'}`,
    `stride      ${pairText(info.stride)} px`,
    `head found  after ${info.boundary.layer} (${info.boundary.shape.join('×')})`,
    ...info.head.map((h, i) => `${i === 0 ? 'head      ' : '          '}  ${h}`),
    `labels      ${labels}`,
    `padding     ${info.padding}`,
    `preprocess  ${info.preprocess}`,
    `equivalence ${eq.exact ? 'exact' : 'not exact'}: ${eq.cellsChecked} cells on a ${pairText(eq.inputSize)} input, max |diff| ${eq.maxAbsDiff.toExponential(2)}, relative ${eq.maxRelDiff.toExponential(2)}`,
    ...(eq.note ? [`            ${eq.note}`] : []),
    `backend     ${backend}`,
  ];
  return lines.join('\n');
}
