import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertClassifier } from '../../main/convert/convert';
import { checkEquivalence } from '../../main/convert/equivalence';
import type { EquivalenceGrade, PreprocessMode } from '../../core/model-info';
import { ModelError } from '../../main/model/errors';
import { loadClassifier } from '../../main/model/load';
import { useWasm } from '../helpers/models';

/**
 * Regression corpus of real third-party models (../shared/corpus, see its SOURCES.md), each with the
 * outcome it must keep: what the converter finds, or the refusal it gets.
 */
interface Converts {
  window: [number, number];
  stride: [number, number];
  padding: 'valid' | 'same' | 'mixed';
  channels: number;
  classes: number;
  /** Number of class names read from the folder, or null when it has none. */
  labels: number | null;
  teachableMachine: boolean;
  boundary: number[];
  exact: boolean;
  /** The default equivalence check's grade (3 × 3 to 6 × 6 cells of a smooth random image, by the model's cost). */
  grade: EquivalenceGrade;
  /** The input mapping the check uses (the one convert guesses: signed for Teachable Machine); default unit. */
  preprocess?: PreprocessMode;
  /** The output converted (a multi-output model's default choice), when the entry pins it. */
  output?: string;
  /** Every output's name, in the model's order, for multi-output models. */
  outputs?: string[];
  /** The first class name exactly as the folder writes it (non-ASCII labels). */
  firstLabel?: string;
}
interface Refused {
  refusal: string;
}
interface Entry {
  target: string;
  /** Where the file comes from: owner/repo@commit:path. */
  source: string;
  /** The failure class this entry guards against (issue number and class, or the format quirk). */
  guards: string;
  what: string;
  /** Why the grade is what it is, where the evidence is worth keeping. */
  equivalence?: string;
  expect: Converts | Refused;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const corpus = path.resolve(repoRoot, '../shared/corpus/models');
const entries = JSON.parse(readFileSync(path.join(repoRoot, 'test/corpus/models.json'), 'utf8')) as Entry[];
const present = existsSync(corpus);
if (!present) console.warn(`corpus tests skipped: ${corpus} is absent`);

describe.skipIf(!present)('real model corpus (../shared/corpus/models)', () => {
  beforeAll(useWasm);

  it('lists every model in the corpus folder exactly once', async () => {
    const onDisk = (await fs.readdir(corpus)).sort();
    expect(entries.map((e) => e.target).sort()).toEqual(onDisk);
  });

  it('names every entry\'s source (repo@commit) and the failure class it guards', () => {
    for (const e of entries) {
      expect(e.source, e.target).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{7,40}:\S+$/);
      expect(e.guards.length, e.target).toBeGreaterThan(10);
    }
  });

  for (const entry of entries) {
    const target = path.join(corpus, entry.target);
    const want = entry.expect;
    if ('refusal' in want) {
      it(`${entry.target}: refused with "${want.refusal}"`, async () => {
        const err = await loadClassifier(target).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(ModelError);
        const message = (err as ModelError).message;
        expect(message).toContain(want.refusal);
        expect(message.startsWith(target)).toBe(true);
        // One readable line: no binary bytes from the file leak into it.
        expect(message).toMatch(/^[\x20-\x7e×→…]+$/);
      });
    } else {
      it(`${entry.target}: loads and converts (${want.window.join('×')} window, stride ${want.stride.join('×')}, ${want.padding}, ${want.exact ? 'exact' : 'not exact'})`, async () => {
        const loaded = await loadClassifier(target);
        try {
          expect(loaded.labels === null ? null : loaded.labels.length).toBe(want.labels);
          expect(loaded.teachableMachine).toBe(want.teachableMachine);
          if (want.firstLabel !== undefined) expect(loaded.labels?.[0]).toBe(want.firstLabel);
          const c = convertClassifier(loaded.model, loaded.file);
          try {
            if (want.output !== undefined) expect(c.output).toBe(want.output);
            if (want.outputs !== undefined) expect(c.outputs.map((o) => o.name)).toEqual(want.outputs);
            expect({ window: c.window, stride: c.stride, padding: c.padding, channels: c.channels, classes: c.classes, boundary: c.boundary.shape })
              .toEqual({ window: want.window, stride: want.stride, padding: want.padding, channels: want.channels, classes: want.classes, boundary: want.boundary });
            // The default check, as convert runs it: the grade recorded per entry (see models.json's notes).
            const report = await checkEquivalence(loaded.model, c, loaded.file, { preprocess: want.preprocess ?? 'unit' });
            expect(report.exact).toBe(want.exact);
            // 6 × 6 cells where the model's cost allows, 3 × 3 at least (CHECK_MAC_BUDGET).
            expect(report.cellsChecked).toBeGreaterThanOrEqual(9);
            expect(report.grade).toBe(want.grade);
            // A map that does not represent the classifier says why, in one sentence.
            if (want.grade === 'not representative') expect(report.notRepresentative).toMatch(/^the (top class differs|network's stride)/);
            if (want.exact) expect(report.maxRelDiff).toBeLessThanOrEqual(1e-4);
            else expect(report.note).toMatch(/pad with zeros/);
          } finally {
            c.fcn.dispose();
          }
        } finally {
          loaded.model.dispose();
        }
      });
    }
  }
});
