// @vitest-environment happy-dom
/** What the window does with the application menu's commands (main sends them on convmap:menu): issue 12, items 12 and 15. */
import { mount } from '@vue/test-utils';
import { describe, expect, it } from 'vitest';
import type { RunBatchRequest } from '../../core/api';
import { API_KEY } from '../../renderer/api';
import App from '../../renderer/App.vue';
import { MENU_SHORTCUTS, SHORTCUTS } from '../../renderer/keys';
import { useBatchStore } from '../../renderer/stores/batch';
import { useModelStore } from '../../renderer/stores/model';
import { fakeApi, piniaWith, settle, MODEL, PHOTO } from './fake-api';

type Api = ReturnType<typeof fakeApi>;

async function mountApp(api: Api) {
  const host = document.createElement('div');
  document.body.appendChild(host);
  const pinia = piniaWith(api);
  const w = mount(App, { attachTo: host, global: { plugins: [pinia], provide: { [API_KEY as symbol]: api } } });
  await settle();
  return w;
}

/** A runBatch request without its batch id (a new one per export). */
const withoutId = (req: RunBatchRequest): Omit<RunBatchRequest, 'batchId'> => {
  const { batchId: _id, ...rest } = req;
  return rest;
};

describe('the application menu in the window', () => {
  it('Help › Keyboard Shortcuts opens the shortcut sheet with every shortcut, the menu\'s accelerators included; Close closes it', async () => {
    const api = fakeApi();
    const w = await mountApp(api);
    expect(w.find('[data-testid="shortcuts"]').exists()).toBe(false);
    api.menu({ command: 'shortcuts' });
    await w.vm.$nextTick();
    const sheet = w.get('[data-testid="shortcuts"]');
    expect(sheet.get('h2').text()).toBe('Keyboard shortcuts');
    const rows = sheet.findAll('tr').map((r) => r.findAll('td').map((d) => d.text()));
    expect(rows).toEqual([...SHORTCUTS, ...MENU_SHORTCUTS].map((s) => [s.keys.trim(), s.what]));
    // The menu's accelerators as main binds them (CmdOrCtrl+E, CmdOrCtrl+Shift+E, CmdOrCtrl+/), in words for Linux and Windows.
    expect(rows.map((r) => r[0])).toEqual(expect.arrayContaining(['Ctrl+E', 'Ctrl+Shift+E', 'Ctrl+/', 'Ctrl+Shift+O']));
    await sheet.get('button').trigger('click');
    expect(w.find('[data-testid="shortcuts"]').exists()).toBe(false);
    w.unmount();
  });

  it('File › Export Photo… runs the same export as the "Export photo…" button: the folder dialog, then the photo on screen', async () => {
    const api = fakeApi();
    const w = await mountApp(api);
    await w.get('button[aria-label="Export current photo"]').trigger('click');
    await settle();
    expect(api.runBatch).toHaveBeenCalledTimes(1);
    const byButton = api.runBatch.mock.calls[0][0] as RunBatchRequest;
    api.finishBatch(byButton.batchId);
    await settle();

    api.menu({ command: 'export-photo' });
    await settle();
    expect(api.chooseExportFolder).toHaveBeenCalledTimes(2);
    expect(api.runBatch).toHaveBeenCalledTimes(2);
    const byMenu = api.runBatch.mock.calls[1][0] as RunBatchRequest;
    expect(withoutId(byMenu)).toEqual(withoutId(byButton));
    expect(byMenu.photoIds).toEqual([PHOTO.id]);
    expect(byMenu.export?.outDir).toBe('/exports');
    expect(byMenu.batchId).not.toBe(byButton.batchId);
    api.finishBatch(byMenu.batchId);
    await settle();
    expect(useBatchStore().lastExport?.outputs).toEqual([`/exports/${PHOTO.id}.heatmap.png`]);
    w.unmount();
  });

  it('File › Export All Photos… exports every photo the user opened (not the demo scene), as "Run batch → folder…" does', async () => {
    const api = fakeApi();
    const w = await mountApp(api);
    api.openFiles(['/photos/b.jpg']);
    await settle();
    api.menu({ command: 'export-all' });
    await settle();
    expect(api.runBatch).toHaveBeenCalledTimes(1);
    const req = api.runBatch.mock.calls[0][0] as RunBatchRequest;
    // The demo scene shown at start (PHOTO) is not one of the user's photos.
    expect(req.photoIds).toEqual(['added-0']);
    expect(req.export?.outDir).toBe('/exports');
    w.unmount();
  });

  it('File › Built-in digits model and Open Recent › a model load that model in the window (the built-in one only when another is in use)', async () => {
    const api = fakeApi();
    const w = await mountApp(api);
    const model = useModelStore();
    api.menu({ command: 'open-model', path: '/models/pets/model.json' });
    await settle();
    expect(api.loadModel.mock.calls.at(-1)?.[0]).toMatchObject({ path: '/models/pets/model.json' });
    expect(model.model?.path).toBe('/models/pets/model.json');
    api.menu({ command: 'open-model', path: null });
    await settle();
    expect(api.loadModel.mock.calls.at(-1)?.[0]).toMatchObject({ path: null });
    expect(model.model).toEqual(MODEL);
    // The built-in model is in use: asking for it again converts nothing.
    const calls = api.loadModel.mock.calls.length;
    api.menu({ command: 'open-model', path: null });
    await settle();
    expect(api.loadModel).toHaveBeenCalledTimes(calls);
    w.unmount();
  });

  it('a drag of files over the window shows the drop hint, and their drop opens them', async () => {
    const api = fakeApi();
    const w = await mountApp(api);
    const file = new File(['x'], 'day1');
    const dataTransfer = { types: ['Files'], items: [{ kind: 'file', getAsFile: () => file, webkitGetAsEntry: () => ({ isDirectory: true }) }], files: [] };
    await w.get('.app').trigger('dragenter', { dataTransfer });
    expect(w.find('.drop-hint').exists()).toBe(true);
    await w.get('.app').trigger('drop', { dataTransfer });
    expect(w.find('.drop-hint').exists()).toBe(false);
    await settle();
    expect(api.addFolders).toHaveBeenCalledWith({ paths: ['/dropped/day1'], recursive: false });
    w.unmount();
  });

  it('stops listening to the menu, and to every other event main sends, when the window unmounts', async () => {
    const api = fakeApi();
    const w = await mountApp(api);
    expect(api.listeners()).toEqual({ progress: 1, openFiles: 1, menu: 1, batch: 1 });
    w.unmount();
    expect(api.listeners()).toEqual({ progress: 0, openFiles: 0, menu: 0, batch: 0 });
    api.menu({ command: 'open-model', path: '/models/pets/model.json' });
    await settle();
    expect(api.loadModel.mock.calls.map((c) => (c[0] as { path: string | null }).path)).toEqual([null]);
  });
});
