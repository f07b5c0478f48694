/** Names of ONNX Runtime devices (execution providers): light, for argument parsing. */

/** What a caller may ask for; `auto` tries the GPU providers of this platform, then the CPU. */
export type DeviceRequest = 'auto' | 'cpu' | 'cuda' | 'dml' | 'coreml';
/** An execution provider that ran. */
export type DeviceName = 'cpu' | 'cuda' | 'dml' | 'coreml';

export const DEVICE_REQUESTS: readonly DeviceRequest[] = ['auto', 'cpu', 'cuda', 'dml', 'coreml'];

export function isDeviceRequest(x: unknown): x is DeviceRequest {
  return typeof x === 'string' && (DEVICE_REQUESTS as readonly string[]).includes(x);
}

/** GPU providers `auto` tries, in order, on each platform (ONNX Runtime's Node package builds). */
export function gpuProviders(platform: NodeJS.Platform = process.platform): DeviceName[] {
  if (platform === 'win32') return ['cuda', 'dml'];
  if (platform === 'darwin') return ['coreml'];
  return ['cuda'];
}
