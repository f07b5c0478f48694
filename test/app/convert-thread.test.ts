// The window's conversion worker chooses its tfjs backend as the CLI does: a worker thread would
// otherwise convert and check crops on tfjs's plain-JS backend (a Teachable Machine model: 37 s).
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../../main/engine/backend';
import { prepareModelInWorker } from '../../main/services/convert-thread';

describe('the conversion worker', () => {
  it('converts on the backend the CLI picks with auto (the fastest that loads)', async () => {
    const cli = await selectBackend('auto');
    const prepared = await prepareModelInWorker({});
    expect(prepared.backend).toBe(cli);
    expect(prepared.info.equivalence.exact).toBe(true);
  });
});
