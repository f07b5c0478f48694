// @vitest-environment happy-dom
/**
 * The Batch tab's Format control (issue 21 item 2): the export's runBatch carries the recipe's format
 * as chosen (a recipe core/recipe's validator accepts), and the result line names what was written.
 */
import { mount } from '@vue/test-utils';
import { describe, expect, it } from 'vitest';
import { checkRecipe } from '../../core/recipe';
import { API_KEY } from '../../renderer/api';
import BatchPanel from '../../renderer/components/BatchPanel.vue';
import { useBatchStore } from '../../renderer/stores/batch';
import { useModelStore } from '../../renderer/stores/model';
import { useSessionStore } from '../../renderer/stores/session';
import { fakeApi, piniaWith, settle } from './fake-api';

describe('the export format', () => {
  it('goes with the export as chosen, and the result counts the pictures of that format', async () => {
    const api = fakeApi();
    const pinia = piniaWith(api);
    await useModelStore().load(null);
    void useSessionStore().openDropped([{ file: new File(['x'], 'day1'), isDirectory: true }]);
    await settle();
    api.finishBatch(api.runBatch.mock.calls[0][0].batchId);
    await settle();
    const w = mount(BatchPanel, { global: { plugins: [pinia], provide: { [API_KEY as symbol]: api } } });
    expect((w.get('[data-testid="export-format"]').element as HTMLSelectElement).value).toBe('png');
    await w.get('[data-testid="export-format"]').setValue('jpeg');
    await w.get('button[aria-label="Export all photos"]').trigger('click');
    await settle();
    const req = api.runBatch.mock.calls[1][0];
    expect(req.recipe.format).toBe('jpeg');
    expect(checkRecipe(req.recipe)).toEqual({ ok: true, recipe: req.recipe });
    // Main writes what the recipe's format names (test/batch/format.test.ts).
    api.finishBatch(req.batchId, { outputs: req.photoIds.map((_: string, i: number) => `/exports/p${i}.heatmap.jpg`) });
    await settle();
    expect(useBatchStore().lastExport?.outputs).toHaveLength(2);
    expect(w.get('[data-testid="export-last"]').text()).toMatch(/^Exported 2 JPEGs to exports/);
    w.unmount();
  });
});
