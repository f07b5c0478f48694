/**
 * The renderer's only way to main: the ConvmapApi the preload exposes as `window.convmap`
 * (core/api.ts). Stores take it through `inject(API_KEY)` so tests can provide a fake.
 */
import { inject, type App, type InjectionKey } from 'vue';
import type { ConvmapApi } from '../core/api';

export const API_KEY: InjectionKey<ConvmapApi> = Symbol('convmap-api');

declare global {
  interface Window {
    /** Set by the preload (Electron) or by a test bridge before the app starts. */
    convmap?: ConvmapApi;
  }
}

/** The API the host put on the window; a clear error when the page runs without one. */
export function windowApi(): ConvmapApi {
  const api = window.convmap;
  if (!api) throw new Error('window.convmap is missing: the renderer must run under the Convmap preload (or a test bridge)');
  return api;
}

export function provideApi(app: App, api: ConvmapApi): void {
  app.provide(API_KEY, api);
}

/** The API in a component or a store (stores run in the app's injection context). */
export function useApi(): ConvmapApi {
  const api = inject(API_KEY, null);
  if (!api) throw new Error('no ConvmapApi provided: call provideApi(app, api) before using the stores');
  return api;
}

/** True for the rejection of a cancelled job (main rejects with an AbortError). */
export function isAbortError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return err.name === 'AbortError' || /\bcancel(l)?ed\b|\baborted\b/i.test(err.message);
}

export function errorMessage(err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  // Electron prefixes rejected invokes with "Error invoking remote method 'channel': Error: ".
  return raw.replace(/^Error invoking remote method '[^']*': (?:\w*Error: )?/, '');
}
