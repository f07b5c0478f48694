import { describe, expect, it } from 'vitest';
import { STRIDE_LIMITS } from '../../core/recipe';
import { prepareModel } from '../../main/services/models';

// The conversion side refuses a stride outside the recipe's bound before reading anything, in the recipe's words.
describe('prepareModel stride bound', () => {
  it.each([0, -2, 1.5, STRIDE_LIMITS.max + 1])('refuses stride %s naming the model', async (stride) => {
    await expect(prepareModel('/nonexistent/model.json', { stride })).rejects.toThrow(
      new RegExp(`^/nonexistent/model\\.json: stride must be .*whole number from ${STRIDE_LIMITS.min} to ${STRIDE_LIMITS.max}, got ${stride}$`),
    );
  });
});
