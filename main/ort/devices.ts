/** Names of ONNX Runtime devices (execution providers): light, for argument parsing. */

/**
 * What a caller may ask for; `auto` tries the GPU providers of this platform, then the CPU.
 * `webgpu` (Dawn over Vulkan, D3D12 or Metal, in the npm package for Windows, macOS and Linux x64;
 * experimental in ONNX Runtime 1.30) is only used when asked for by name.
 */
export type DeviceRequest = 'auto' | 'cpu' | 'cuda' | 'dml' | 'coreml' | 'webgpu';
/** An execution provider that ran. */
export type DeviceName = 'cpu' | 'cuda' | 'dml' | 'coreml' | 'webgpu';

export const DEVICE_REQUESTS: readonly DeviceRequest[] = ['auto', 'cpu', 'cuda', 'dml', 'coreml', 'webgpu'];

export function isDeviceRequest(x: unknown): x is DeviceRequest {
  return typeof x === 'string' && (DEVICE_REQUESTS as readonly string[]).includes(x);
}

/** GPU providers `auto` tries, in order, on each platform (ONNX Runtime's Node package builds). */
export function gpuProviders(platform: NodeJS.Platform = process.platform): DeviceName[] {
  if (platform === 'win32') return ['cuda', 'dml'];
  if (platform === 'darwin') return ['coreml'];
  return ['cuda'];
}
