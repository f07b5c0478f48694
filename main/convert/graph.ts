import * as tf from '@tensorflow/tfjs';

type Layer = tf.layers.Layer;
type SymbolicTensor = tf.SymbolicTensor;

/** tfjs keeps the call graph in Node objects that its public typings do not export. */
interface CallNode {
  inputTensors: SymbolicTensor[];
  outputTensors: SymbolicTensor[];
}
interface Container extends Layer {
  inputs: SymbolicTensor[];
  outputs: SymbolicTensor[];
  layers: Layer[];
}

function callNodes(layer: Layer): CallNode[] {
  return (layer as unknown as { inboundNodes: CallNode[] }).inboundNodes;
}

function isContainer(layer: Layer): layer is Container {
  const c = layer as Partial<Container>;
  return Array.isArray(c.layers) && Array.isArray(c.inputs) && Array.isArray(c.outputs);
}

/** One call of a primitive (non-model) layer in the flattened graph. */
export interface FlatNode {
  layer: Layer;
  className: string;
  /** Ids of the tensors it reads and writes. */
  inputs: number[];
  outputs: number[];
}

/**
 * A model with nested models expanded: every node is a primitive layer call, in topological order.
 * Tensor ids index `shapes` ([batch, ...] as tfjs infers them at the classifier's input size).
 */
export interface FlatGraph {
  nodes: FlatNode[];
  inputs: number[];
  outputs: number[];
  shapes: (number | null)[][];
  /** The node that writes each tensor id (undefined for graph inputs). */
  producer: (FlatNode | undefined)[];
}

/**
 * Expands nested Sequential/Functional models (Teachable Machine: a Sequential holding a Sequential
 * MobileNet trunk and a Sequential head) into one graph of primitive layer calls.
 */
export function flattenModel(model: tf.LayersModel): FlatGraph {
  const nodes: FlatNode[] = [];
  const shapes: (number | null)[][] = [];
  const producer: (FlatNode | undefined)[] = [];
  const newId = (t: SymbolicTensor): number => {
    shapes.push(t.shape.slice());
    producer.push(undefined);
    return shapes.length - 1;
  };

  const expand = (container: Container, inputIds: number[]): number[] => {
    const env = new Map<SymbolicTensor, number>();
    container.inputs.forEach((t, i) => env.set(t, inputIds[i]));
    const visit = (t: SymbolicTensor): number => {
      const known = env.get(t);
      if (known !== undefined) return known;
      const layer = t.sourceLayer as Layer;
      const call = callNodes(layer)[t.nodeIndex];
      const ins = call.inputTensors.map(visit);
      let outs: number[];
      if (isContainer(layer)) {
        outs = expand(layer, ins);
      } else {
        outs = call.outputTensors.map(newId);
        const node: FlatNode = { layer, className: layer.getClassName(), inputs: ins, outputs: outs };
        outs.forEach((o) => (producer[o] = node));
        nodes.push(node);
      }
      call.outputTensors.forEach((o, i) => env.set(o, outs[i]));
      return env.get(t) as number;
    };
    return container.outputs.map(visit);
  };

  const root = model as unknown as Container;
  const inputs = root.inputs.map(newId);
  const outputs = expand(root, inputs);
  return { nodes, inputs, outputs, shapes, producer };
}

/** Nodes needed to compute tensor `target`, in topological order. */
export function nodesUpTo(graph: FlatGraph, target: number): FlatNode[] {
  const needed = new Set<FlatNode>();
  const stack = [target];
  while (stack.length > 0) {
    const node = graph.producer[stack.pop() as number];
    if (node && !needed.has(node)) {
      needed.add(node);
      stack.push(...node.inputs);
    }
  }
  return graph.nodes.filter((n) => needed.has(n));
}
