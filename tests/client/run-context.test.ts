import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InThreadTrainer } from '../../client/in-thread-trainer.js';
import { localArrays, localTensors } from '../../client/local-data.js';
import { closeRunContext, openRunContext } from '../../client/run-context.js';
import {
  buildModel,
  readWeights,
  selectBackend,
  unwrap,
  type ErrorCode,
  type LabelledTable,
  type MlpSpec,
  type Normalizer,
  type Result,
  type RunWelcome,
  type TeacherKnowledge,
} from '../../protocol/index.js';

const spec: MlpSpec = { kind: 'mlp', inputs: 2, hidden: [3], classes: 2 };
const normalizer: Normalizer = { mean: [1, 10], std: [2, 5] };

const table = (rows: number[][], labels: number[]): LabelledTable => ({
  featureNames: rows[0]!.map((_, i) => `x${i}`),
  rows: rows.length,
  features: rows[0]!.length,
  inputs: Float32Array.from(rows.flat()),
  labels: Int32Array.from(labels),
});

const train = table(
  [
    [3, 20],
    [1, 10],
    [-1, 0],
    [5, 15],
  ],
  [1, 0, 0, 1],
);

const transferSet = (hiddenWidth: number): TeacherKnowledge => ({
  mode: 'transfer-set',
  rows: 2,
  features: 2,
  classes: 2,
  inputs: Float32Array.of(1, 15, 3, 10),
  logits: Float32Array.of(2, -2, -1, 1),
  hiddenWidth,
  hidden: new Float32Array(2 * hiddenWidth).fill(0.5),
});

/** Only what the run context reads of a welcome: the student spec and the normalizer. */
const welcome = (student = spec): RunWelcome => ({ student, normalizer }) as RunWelcome;

const codeOf = (result: Result<unknown>): ErrorCode | undefined =>
  result.ok ? undefined : result.error.code;

const PLAN = {
  temperature: 2,
  alpha: 0.5,
  epochs: 2,
  batchSize: 2,
  learningRate: 0.05,
  labelSmoothing: 0,
  proximalMu: 0,
  seed: 1,
};

describe('the tensors a site trains on', () => {
  before(async () => {
    unwrap(await selectBackend('wasm'));
  });

  it('private rows and transfer inputs are normalised with the run normalizer', () => {
    const arrays = localArrays(train, transferSet(0), normalizer);
    // (3 - 1) / 2 = 1 and (20 - 10) / 5 = 2.
    assert.deepEqual([...arrays.inputs.subarray(0, 2)], [1, 2]);
    assert.equal(arrays.teacher.kind, 'transfer-set');
    if (arrays.teacher.kind === 'transfer-set') {
      assert.deepEqual([...arrays.teacher.inputs], [0, 1, 1, 0]);
      assert.equal(arrays.teacher.hidden, undefined);
    }
  });

  it('labels become one-hot rows and teacher features keep their width', async () => {
    const data = localTensors(localArrays(train, transferSet(3), normalizer), spec);
    assert.deepEqual(await data.privateLabels.array(), [
      [0, 1],
      [1, 0],
      [1, 0],
      [0, 1],
    ]);
    assert.equal(data.teacher.kind, 'transfer-set');
    if (data.teacher.kind === 'transfer-set') {
      assert.deepEqual(data.teacher.logits.shape, [2, 2]);
      assert.deepEqual(data.teacher.hidden?.shape, [2, 3]);
    }
  });

  it('class-logits knowledge becomes a classes x classes matrix', () => {
    const knowledge: TeacherKnowledge = {
      mode: 'class-logits',
      classes: 2,
      matrix: Float32Array.of(3, -3, -3, 3),
    };
    const data = localTensors(localArrays(train, knowledge, normalizer), spec);
    assert.deepEqual(data.teacher.kind === 'class-logits' && data.teacher.matrix.shape, [2, 2]);
  });
});

describe('a run context', () => {
  before(async () => {
    unwrap(await selectBackend('wasm'));
  });
  const open = (overrides: { split?: LabelledTable; knowledge?: TeacherKnowledge } = {}) =>
    openRunContext({
      welcome: welcome(),
      knowledge: overrides.knowledge ?? transferSet(0),
      split: { train: overrides.split ?? train, validation: undefined },
      backend: 'wasm',
      workers: 1,
      log: () => {},
    });

  it('private data with the wrong number of features is refused as data.invalid', async () => {
    const wide = table([[1, 2, 3]], [0]);
    assert.equal(codeOf(await open({ split: wide })), 'data.invalid');
  });

  it('a teacher that disagrees with the student on classes is refused as schema.invalid', async () => {
    const knowledge = { ...transferSet(0), classes: 3 };
    assert.equal(codeOf(await open({ knowledge })), 'schema.invalid');
  });

  it('a private label outside the classes is refused as data.invalid', async () => {
    assert.equal(codeOf(await open({ split: table([[1, 2]], [5]) })), 'data.invalid');
  });

  it('an agreeing run trains in this thread and validates on its own rows', async () => {
    const opened = unwrap(
      await openRunContext({
        welcome: welcome(),
        knowledge: transferSet(0),
        split: { train, validation: table([[2, 12]], [1]) },
        backend: 'wasm',
        workers: 1,
        log: () => {},
      }),
    );
    assert.ok(opened.trainer instanceof InThreadTrainer);
    const [row] = await opened.validation!.inputs.array();
    assert.deepEqual(
      row!.map((v) => Math.round(v * 1e6) / 1e6),
      [0.5, 0.4],
    );
    closeRunContext(opened);
  });

  it('a GPU-like backend trains in one thread and says so', async () => {
    const lines: string[] = [];
    const opened = unwrap(
      await openRunContext({
        welcome: welcome(),
        knowledge: transferSet(0),
        split: { train, validation: undefined },
        backend: 'webgpu',
        workers: 4,
        log: (line) => lines.push(line),
      }),
    );
    assert.ok(opened.trainer instanceof InThreadTrainer);
    assert.deepEqual(lines, [
      '4 training workers asked for, but webgpu trains on one device; using one',
    ]);
    closeRunContext(opened);
  });
});

describe('the in-thread trainer', () => {
  let global: Awaited<ReturnType<typeof readWeights>>;
  before(async () => {
    unwrap(await selectBackend('wasm'));
    const model = buildModel(spec, 5);
    global = await readWeights(model, spec);
    model.dispose();
  });
  const trainers: InThreadTrainer[] = [];
  after(() => trainers.forEach((t) => t.close()));
  const trainer = (knowledge: TeacherKnowledge) => {
    const made = new InThreadTrainer({ spec, data: localArrays(train, knowledge, normalizer) });
    trainers.push(made);
    return made;
  };

  it('trains from the global weights and leaves the trained ones in its model', async () => {
    const t = trainer(transferSet(0));
    const trained = unwrap(await t.train(global, PLAN));
    assert.ok(trained.some((w, i) => w.values.some((v, j) => v !== global[i]!.values[j])));
    assert.deepEqual(await readWeights(t.model, spec), trained);
  });

  it('a round with the same global weights and seed trains to the same weights', async () => {
    const t = trainer(transferSet(0));
    const first = unwrap(await t.train(global, PLAN));
    const second = unwrap(await t.train(global, PLAN));
    assert.deepEqual(second, first);
  });

  it('a hidden-state round without teacher features is refused as an unexpected message', async () => {
    const result = await trainer(transferSet(0)).train(global, {
      ...PLAN,
      hiddenState: { layer: 'hidden_1', weight: 1 },
    });
    assert.equal(codeOf(result), 'protocol.unexpected_message');
  });

  it('a hidden-state round naming a layer the student lacks is refused as schema.invalid', async () => {
    const result = await trainer(transferSet(3)).train(global, {
      ...PLAN,
      hiddenState: { layer: 'no-such-layer', weight: 1 },
    });
    assert.equal(codeOf(result), 'schema.invalid');
  });
});
