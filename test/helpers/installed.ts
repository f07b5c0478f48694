import { createRequire } from 'node:module';

/** Whether the optional native TensorFlow binding (@tensorflow/tfjs-node) resolves from the test folder. */
export const tfjsNodeInstalled: boolean = (() => {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
})();
