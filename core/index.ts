/** Everything in core/, for `import { … } from '../core'`. */
export * from './scoremap';
export * from './model-info';
export * from './average';
export * from './detect';
export * from './colormap';
export * from './overlay';
export * from './defaults';
