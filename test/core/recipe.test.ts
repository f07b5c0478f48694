import { describe, expect, it } from 'vitest';
import { checkRecipe, DEFAULT_RECIPE, makeRecipe, recipeKey, type Recipe } from '../../core/recipe';

/**
 * For every field, a valid value other than the default. Typed as a full record so that a field
 * added to Recipe without a sample here fails to compile, and the loop below fails at run time
 * if the record and DEFAULT_RECIPE disagree.
 */
const OTHER: { [K in keyof Recipe]-?: Recipe[K] } = {
  model: 'a'.repeat(64),
  preprocess: 'imagenet',
  stride: 16,
  scales: [1, 0.5],
  mode: 'mean',
  classChoice: 'cat',
  view: 'classes',
  colormap: 'turbo',
  opacity: 0.3,
  threshold: 0.05,
  smooth: false,
  boxes: true,
  detectThreshold: 0.9,
  legend: false,
  namePattern: '{class}-{name}.png',
  format: 'webp',
  scores: 'full',
  npyDtype: 'float16',
  csv: true,
};

describe('recipe', () => {
  it('the default recipe passes its own validator', () => {
    const r = checkRecipe(JSON.parse(JSON.stringify(DEFAULT_RECIPE)));
    expect(r).toEqual({ ok: true, recipe: { ...DEFAULT_RECIPE } });
  });

  it('every field joins the key: changing any one field changes it', () => {
    expect(Object.keys(OTHER).sort()).toEqual(Object.keys(DEFAULT_RECIPE).sort());
    const base = recipeKey(DEFAULT_RECIPE);
    const keys = new Set([base]);
    for (const k of Object.keys(DEFAULT_RECIPE) as (keyof Recipe)[]) {
      const changed = makeRecipe({ [k]: OTHER[k] });
      expect(checkRecipe(changed).ok, k).toBe(true);
      const key = recipeKey(changed);
      expect(key, k).not.toBe(base);
      keys.add(key);
    }
    expect(keys.size).toBe(Object.keys(DEFAULT_RECIPE).length + 1);
  });

  it('the key does not depend on the order the fields were written in', () => {
    const a = makeRecipe(OTHER);
    const b = Object.fromEntries(Object.entries(a).reverse()) as unknown as Recipe;
    expect(recipeKey(b)).toBe(recipeKey(a));
  });

  it('refuses bad fields with one sentence naming the field', () => {
    const cases: [Partial<Record<keyof Recipe, unknown>>, RegExp][] = [
      [{ opacity: 1.5 }, /^opacity must be a number from 0 to 1, got 1\.5$/],
      [{ threshold: Number.NaN }, /^threshold must be/],
      [{ scales: [] }, /^scales must hold/],
      [{ scales: [100] }, /each scale must be/],
      [{ scales: 'most' }, /^scales must be "auto"/],
      [{ mode: 'median' }, /^mode must be one of max, mean/],
      [{ colormap: 'jet2' }, /^colormap must be one of/],
      [{ view: 'pretty' }, /^view must be null or one of/],
      [{ stride: 0 }, /^stride must be null or a whole number/],
      [{ stride: 2.5 }, /^stride must be/],
      [{ model: '../x' }, /^model must be null or 64 hex digits/],
      [{ classChoice: '' }, /^classChoice must be/],
      [{ namePattern: 'x'.repeat(500) }, /^namePattern must be a text of 1–200/],
      [{ csv: 'yes' }, /^csv must be true or false/],
      [{ format: 'gif' }, /^format must be one of png, jpeg, webp, got "gif"$/],
    ];
    for (const [change, re] of cases) {
      const r = checkRecipe({ ...DEFAULT_RECIPE, ...change });
      expect(r.ok, JSON.stringify(change)).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(re);
    }
  });

  it('refuses missing, unknown and inherited fields and non-objects', () => {
    const { csv: _csv, ...missing } = DEFAULT_RECIPE;
    expect(checkRecipe(missing)).toEqual({ ok: false, reason: 'recipe field csv is missing' });
    expect(checkRecipe({ ...DEFAULT_RECIPE, extra: 1 })).toEqual({ ok: false, reason: 'unknown recipe field "extra"' });
    expect(checkRecipe(Object.create({ ...DEFAULT_RECIPE }) as unknown).ok).toBe(false);
    expect(checkRecipe([1]).ok).toBe(false);
    expect(checkRecipe(null).ok).toBe(false);
  });

  it('checkRecipe and makeRecipe return copies: editing them leaves the defaults alone', () => {
    const r = makeRecipe({ scales: [1] });
    (r.scales as number[]).push(2);
    expect(DEFAULT_RECIPE.scales).toBe('auto');
    const input = { ...DEFAULT_RECIPE, scales: [1, 2] };
    const c = checkRecipe(input);
    expect(c.ok && c.recipe.scales !== input.scales).toBe(true);
  });
});
