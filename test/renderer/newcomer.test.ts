// @vitest-environment happy-dom
/**
 * What a newcomer tripped over in the window (issue 25 items 4 and 5): a refused custom scale is
 * about what was typed and goes once the text, the photo or the model changes; photos just opened
 * are in the recent list at once, as main's recents (the fake's) say. Item 1: "Run batch → folder…"
 * exports the photos the user opened, not the built-in demo scene shown at start.
 */
import { mount } from '@vue/test-utils';
import { beforeEach, describe, expect, it } from 'vitest';
import { API_KEY } from '../../renderer/api';
import ModelPanel from '../../renderer/components/ModelPanel.vue';
import ScalesPanel from '../../renderer/components/ScalesPanel.vue';
import { useBatchStore } from '../../renderer/stores/batch';
import { useModelStore } from '../../renderer/stores/model';
import { usePhotosStore } from '../../renderer/stores/photos';
import { useSessionStore } from '../../renderer/stores/session';
import { fakeApi, piniaWith, settle } from './fake-api';

describe('the window after a newcomer\'s first steps', () => {
  let api: ReturnType<typeof fakeApi>;
  beforeEach(() => {
    api = fakeApi();
  });

  const mountPanel = (component: typeof ScalesPanel | typeof ModelPanel): ReturnType<typeof mount> => {
    const pinia = piniaWith(api);
    return mount(component, { global: { plugins: [pinia], provide: { [API_KEY as symbol]: api } } });
  };

  async function refuse(panel: ReturnType<typeof mount>, text: string): Promise<void> {
    await panel.get('input[aria-label="Custom scales"]').setValue(text);
    await panel.get('form.custom').trigger('submit');
    await settle();
  }

  it('a refused custom scale is shown, then goes when another photo is shown', async () => {
    const panel = mountPanel(ScalesPanel);
    await useSessionStore().start();
    await settle();
    await refuse(panel, 'banana');
    expect(panel.find('.error').text()).toMatch(/banana/);
    await usePhotosStore().add(['/photos/b.jpg']);
    await settle();
    expect(panel.find('.error').exists()).toBe(false);
  });

  it('a refused custom scale goes when another model is loaded, or when the text is edited', async () => {
    const panel = mountPanel(ScalesPanel);
    await useSessionStore().start();
    await settle();
    await refuse(panel, 'banana');
    expect(panel.find('.error').exists()).toBe(true);
    await useModelStore().load('/models/other/model.json');
    await settle();
    expect(panel.find('.error').exists()).toBe(false);
    await refuse(panel, '0, -1');
    expect(panel.find('.error').exists()).toBe(true);
    await panel.get('input[aria-label="Custom scales"]').setValue('0.5');
    await settle();
    expect(panel.find('.error').exists()).toBe(false);
  });

  it('photos just opened are listed under Recent photos without waiting for a model reload', async () => {
    const opened: string[] = [];
    api.recent.mockImplementation(async () => ({ models: [], photos: [...opened].reverse() }));
    api.addPhotos.mockImplementation(async (paths: string[]) => {
      opened.push(...paths);
      return { photos: paths.map((p, i) => ({ id: `p${opened.length}-${i}`, name: p.split('/').pop() ?? p, path: p, width: 40, height: 40, url: `convmap-photo://photo/${i}` })), failed: [] };
    });
    const panel = mountPanel(ModelPanel);
    await useSessionStore().start();
    await settle();
    expect(panel.text()).toMatch(/None yet/);
    await usePhotosStore().add(['/photos/cat.jpg', '/photos/dog.jpg']);
    await settle();
    const recentPhotos = panel.findAll('[data-testid="recent-photos"] button').map((b) => b.text());
    expect(recentPhotos).toEqual(['dog.jpg', 'cat.jpg']);
  });

  it('"Run batch → folder…" exports the photos the user opened, not the demo scene shown at start', async () => {
    piniaWith(api);
    await useSessionStore().start();
    await settle();
    const batch = useBatchStore();
    const photos = usePhotosStore();
    const demo = photos.photos.map((p) => p.id);
    expect(demo).toHaveLength(1);
    // Alone, the demo scene is what "all" means.
    void batch.exportPhotos('all');
    await settle();
    const alone = api.runBatch.mock.calls.at(-1)?.[0] as { batchId: string; photoIds: string[] };
    expect(alone.photoIds).toEqual(demo);
    api.finishBatch(alone.batchId);
    await settle();
    await photos.add(['/photos/cat.jpg', '/photos/dog.jpg']);
    await settle();
    const opened = photos.photos.filter((p) => !demo.includes(p.id)).map((p) => p.id);
    expect(opened).toHaveLength(2);
    void batch.exportPhotos('all');
    await settle();
    const req = api.runBatch.mock.calls.at(-1)?.[0] as { batchId: string; photoIds: string[] };
    expect(req.photoIds).toEqual(opened);
    api.finishBatch(req.batchId);
    await settle();
  });
});
