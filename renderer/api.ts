/**
 * The renderer's only way to main: the ConvmapApi the preload exposes as `window.convmap`
 * (core/api.ts). Stores take it through `inject(API_KEY)` so tests can provide a fake.
 */
import { inject, type App, type InjectionKey } from 'vue';
import type { ConvmapApi } from '../core/api';
import { errorMessage } from '../core/errors';

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

/**
 * True for the rejection of a cancelled call to main: main rejects with an AbortError (main/io/abort),
 * whose name Electron's invoke does not carry across, so its message is read too.
 */
export function isRemoteAbort(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return err.name === 'AbortError' || /\bcancel(l)?ed\b|\baborted\b/i.test(err.message);
}

/** The message of a rejected call to main (core's errorMessage) without the prefix Electron's invoke adds. */
export function remoteErrorMessage(err: unknown): string {
  // Electron prefixes rejected invokes with "Error invoking remote method 'channel': Error: ".
  return errorMessage(err).replace(/^Error invoking remote method '[^']*': (?:\w*Error: )?/, '');
}
