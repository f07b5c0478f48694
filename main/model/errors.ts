/**
 * A refusal the user can act on: names the file and, for models, the layer and its class.
 * The CLI prints `message` as one line and exits non-zero.
 */
export class ModelError extends Error {
  constructor(
    readonly file: string,
    readonly detail: string,
    readonly layer?: { name: string; className: string },
  ) {
    super(`${file}: ${layer ? `layer "${layer.name}" (${layer.className}): ` : ''}${detail}`);
    this.name = 'ModelError';
  }
}
