import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseCoordinatorConfig } from '../../coordinator/config/coordinator-config.js';
import { encodeBinaryLogits } from '../../coordinator/teacher/logits-binary.js';
import { denseFromTopK, type TopK } from '../../coordinator/teacher/sparse-logits.js';
import { labelAgreement, teacherKnowledge } from '../../coordinator/teacher/teacher-knowledge.js';
import {
  readTeacherLogits,
  writeTeacherLogits,
  type LogitsShape,
} from '../../coordinator/teacher/teacher-logits.js';
import { FedistillError, toFloat16Bits } from '../../protocol/index.js';

// A class with no mass sits 100 ln 1000 below the row's largest logit.
const NO_MASS_GAP = 690.7755278982137;

function softmax(logits: ArrayLike<number>, temperature: number): number[] {
  const scaled = Array.from(logits, (v) => v / temperature);
  const max = Math.max(...scaled);
  const exps = scaled.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

function assertClose(actual: ArrayLike<number>, expected: readonly number[], tolerance: number) {
  assert.equal(actual.length, expected.length);
  expected.forEach((e, i) =>
    assert.ok(
      Math.abs(actual[i]! - e) <= tolerance,
      `[${i}]: ${actual[i]} vs ${e} (${Array.from(actual).join(', ')})`,
    ),
  );
}

function dense(topk: TopK, classes: number): Float64Array {
  const result = denseFromTopK(topk, classes);
  assert.ok(result.ok, result.ok ? '' : result.error.message);
  return result.value;
}

function refusal(topk: TopK, classes: number): string {
  const result = denseFromTopK(topk, classes);
  assert.ok(!result.ok, 'expected a refusal');
  return result.error.message;
}

describe('top-k log-probabilities become dense logits', () => {
  it('C=4, top-2 ln 0.5 and ln 0.3: the missing 0.2 is spread, softmax at T=1 is [0.5, 0.1, 0.3, 0.1]', () => {
    const logits = dense(
      [
        [0, Math.log(0.5)],
        [2, Math.log(0.3)],
      ],
      4,
    );
    assertClose(logits, [Math.log(0.5), Math.log(0.1), Math.log(0.3), Math.log(0.1)], 1e-12);
    assertClose(softmax(logits, 1), [0.5, 0.1, 0.3, 0.1], 1e-12);
  });

  it('softmax(logits / 2) of the same row is p^(1/2) renormalised: [0.374668, 0.167557, 0.290217, 0.167557]', () => {
    // sqrt: 0.707107, 0.316228, 0.547723, 0.316228; their sum 1.887286.
    const logits = dense(
      [
        [0, Math.log(0.5)],
        [2, Math.log(0.3)],
      ],
      4,
    );
    assertClose(softmax(logits, 2), [0.374668, 0.167557, 0.290217, 0.167557], 1e-6);
  });

  it('k = C: nothing is missing and the log-probabilities are the logits', () => {
    const logits = dense(
      [
        [2, Math.log(0.1)],
        [0, Math.log(0.7)],
        [1, Math.log(0.2)],
      ],
      3,
    );
    assertClose(logits, [Math.log(0.7), Math.log(0.2), Math.log(0.1)], 1e-12);
  });

  it('a mass just over 1 (rounding) is scaled to 1, and the unlisted class sits 690.7755 below the largest logit', () => {
    // 0.6 + 0.4004 = 1.0004: scaled to 0.6 / 1.0004 = 0.599760 and 0.4004 / 1.0004 = 0.400240.
    const logits = dense(
      [
        [0, Math.log(0.6)],
        [1, Math.log(0.4004)],
      ],
      3,
    );
    assertClose(
      logits,
      [Math.log(0.59976009596), Math.log(0.40023990404), Math.log(0.59976009596) - NO_MASS_GAP],
      1e-9,
    );
  });

  it('listed classes that hold all the mass leave the unlisted ones 690.7755 below the largest logit, not at -Infinity', () => {
    assertClose(
      dense(
        [
          [0, Math.log(0.5)],
          [1, Math.log(0.5)],
        ],
        4,
      ),
      [Math.log(0.5), Math.log(0.5), Math.log(0.5) - NO_MASS_GAP, Math.log(0.5) - NO_MASS_GAP],
      1e-12,
    );
  });

  it('a listed log-probability more than 690.7755 below the largest (APIs write -9999) is raised to that floor', () => {
    assertClose(
      dense(
        [
          [0, 0],
          [1, -9999],
        ],
        2,
      ),
      [0, -NO_MASS_GAP],
      1e-12,
    );
  });

  it('a class left out with no mass stays negligible when softened: 5.2026e-61 at T = 5, while the kept 0.6 : 0.4 is unchanged at T = 1', () => {
    // The listed classes hold all the mass, so classes 2 and 3 have none. Their logit sits
    // 100 ln 1000 = 690.7755 below the row's largest, ln 0.6, so at T = 5 each weighs
    // 0.6^(1/5) * 1000^(-20) = 0.902880 * 1e-60 against 0.6^(1/5) + 0.4^(1/5) = 1.735433:
    // 5.2026215e-61. (A floor of p = 1e-8 gave 0.0141 here: 1e-8^(1/5) = 0.0251 before normalising.)
    const logits = dense(
      [
        [0, Math.log(0.6)],
        [1, Math.log(0.4)],
      ],
      4,
    );
    const atFive = softmax(logits, 5);
    for (const left of [atFive[2]!, atFive[3]!]) {
      assert.ok(left < 1e-3, `a left-out class got ${left} at T = 5`);
      assert.ok(Math.abs(left / 5.2026215283e-61 - 1) < 1e-9, `${left} vs 5.2026215283e-61`);
    }
    assertClose(atFive.slice(0, 2), [0.52026215283, 0.47973784717], 1e-10);
    const atOne = softmax(logits, 1);
    assert.ok(atOne[0]! > atOne[1]! && atOne[1]! > atOne[2]!);
    assert.ok(Math.abs(atOne[0]! / atOne[1]! - 1.5) < 1e-12, `ratio ${atOne[0]! / atOne[1]!}`);
    assertClose(atOne, [0.6, 0.4, 0, 0], 1e-12);
  });

  it('refuses a mass over 1 + 1e-3, a class listed twice and a class outside the run', () => {
    assert.match(
      refusal(
        [
          [0, Math.log(0.7)],
          [1, Math.log(0.4)],
        ],
        3,
      ),
      /sum to 1\.100000, more than 1/,
    );
    assert.match(
      refusal(
        [
          [1, -1],
          [1, -2],
        ],
        3,
      ),
      /class 1 twice/,
    );
    assert.match(refusal([[3, -1]], 3), /class 3; the run has classes 0\.\.2/);
  });
});

describe('teacher knowledge and agreement from any logits', () => {
  const table = {
    featureNames: ['x'],
    rows: 3,
    features: 1,
    inputs: Float32Array.from([10, 20, 30]),
    labels: Int32Array.from([0, 1, 1]),
  };
  const logits = Float32Array.from([1, 0, 0, 2, 0, 4]);

  it('class logits are the per-class means: [[1, 0], [0, 3]]', () => {
    const knowledge = teacherKnowledge({
      mode: 'class-logits',
      publicSplit: table,
      classes: 2,
      logits,
    });
    assert.ok(knowledge.mode === 'class-logits');
    assert.deepEqual([...knowledge.matrix], [1, 0, 0, 3]);
  });

  it('agreement is the share of rows whose argmax is the label', () => {
    assert.equal(labelAgreement(logits, table.labels, 2), 1);
    assert.equal(labelAgreement(logits, Int32Array.from([1, 1, 0]), 2), 1 / 3);
  });
});

describe('reading teacher logits files', () => {
  let dir: string;
  const shape: LogitsShape = { rows: 3, classes: 2 };
  let counter = 0;
  const file = async (contents: string | Uint8Array, extension = 'jsonl'): Promise<string> => {
    const name = path.join(dir, `f${counter++}.${extension}`);
    await writeFile(name, contents);
    return name;
  };
  const policy = () => ({ dir, maxBytes: 1024 * 1024, readTimeoutMs: 5000 });
  const readJsonl = async (text: string, at = shape) =>
    readTeacherLogits({ file: await file(text), format: 'jsonl' }, at, policy());
  const readBinary = async (bytes: Uint8Array, at = shape) =>
    readTeacherLogits({ file: await file(bytes, 'bin'), format: 'binary' }, at, policy());
  const jsonlRefusal = async (text: string): Promise<string> => {
    const result = await readJsonl(text);
    assert.ok(!result.ok, 'expected a refusal');
    assert.equal(result.error.code, 'data.invalid');
    return result.error.message;
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-logits-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('JSONL: dense and top-k lines in any order, blank lines skipped, land in their rows', async () => {
    const result = await readJsonl(
      [
        '{"id": 2, "logits": [0.25, -1.5]}',
        '',
        '{"id": 0, "topk": [[1, -0.35667494393873245]]}',
        '{"id": 1, "logits": [3, 4]}',
        '',
      ].join('\n'),
    );
    assert.ok(result.ok, result.ok ? '' : result.error.message);
    // Row 0: class 1 has p = 0.7 (ln 0.7 = -0.356675), class 0 the missing 0.3.
    assertClose(result.value, [Math.log(0.3), Math.log(0.7), 3, 4, 0.25, -1.5], 1e-6);
  });

  it('JSONL refusals name the file and the line', async () => {
    const ok0 = '{"id": 0, "logits": [1, 2]}';
    const ok1 = '{"id": 1, "logits": [1, 2]}';
    const ok2 = '{"id": 2, "logits": [1, 2]}';
    const cases: [string, RegExp][] = [
      [[ok0, ok1, ok0].join('\n'), /\.jsonl line 3: id 0 was already given on line 1/],
      [ok1, /no line for id 0, 2; the public split has rows 0\.\.2/],
      [
        [ok0, ok1, ok2, '{"id": 3, "logits": [1, 2]}'].join('\n'),
        /line 4: id 3 is outside the public split's rows 0\.\.2/,
      ],
      [
        [ok0, '{"id": 1, "logits": [1, 2, 3]}'].join('\n'),
        /line 2: 3 logits, the run has 2 classes/,
      ],
      [
        [ok0, '{"id": 1, "logits": [1, 1e999]}'].join('\n'),
        /line 2: logits\.1: must be a finite number/,
      ],
      [
        [ok0, '{"id": 1, "logits": [1, 1e39]}'].join('\n'),
        /line 2: a logit is beyond float32's range/,
      ],
      [
        [ok0, '{"id": 1, "logits": [1, "2"]}'].join('\n'),
        /line 2: logits\.1: must be a finite number/,
      ],
      [[ok0, '{"id": 1, logits: [1, 2]}'].join('\n'), /line 2 is not UTF-8 JSON$/],
      [[ok0, '{"id": 1}'].join('\n'), /line 2: \(root\): give exactly one of "logits" and "topk"/],
      [[ok0, '{"id": 1.5, "logits": [1, 2]}'].join('\n'), /line 2: id: /],
      [[ok0, '{"id": -1, "logits": [1, 2]}'].join('\n'), /line 2: id: /],
      [
        [ok0, '{"id": 1, "logits": [1, 2], "note": "x"}'].join('\n'),
        /line 2: \(root\): Unrecognized key/,
      ],
      [
        [ok0, '{"id": 1, "topk": [[2, -0.1]]}'].join('\n'),
        /line 2: topk lists class 2; the run has classes 0\.\.1/,
      ],
      [
        [ok0, '{"id": 1, "topk": [[0, -0.1], [1, -0.1]]}'].join('\n'),
        /line 2: topk probabilities sum to 1\.809675/,
      ],
    ];
    for (const [text, expected] of cases) assert.match(await jsonlRefusal(text), expected);
  });

  it('an absent file is a file error that names it', async () => {
    const missing = path.join(dir, 'absent.jsonl');
    for (const format of ['jsonl', 'binary'] as const) {
      const result = await readTeacherLogits({ file: missing, format }, shape, policy());
      assert.ok(!result.ok);
      assert.equal(result.error.code, 'file.unreadable');
      assert.match(result.error.message, /cannot read .*absent\.jsonl: ENOENT/);
    }
  });

  it('binary: the header is padded so the matrix starts at a multiple of 8; float32 round-trips exactly', async () => {
    const values = Float32Array.from([0.1, -2.5, 1e-30, 3e38, -0, 7]);
    const encoded = encodeBinaryLogits(values, shape, 'float32');
    assert.ok(encoded.ok);
    const bytes = encoded.value;
    const headerBytes = new DataView(bytes.buffer).getUint32(0, true);
    assert.equal((4 + headerBytes) % 8, 0);
    assert.equal(bytes.length, 4 + headerBytes + 6 * 4);
    assert.deepEqual(JSON.parse(Buffer.from(bytes.subarray(4, 4 + headerBytes)).toString()), {
      format: 'fedistill-logits',
      version: 1,
      rows: 3,
      classes: 2,
      dtype: 'float32',
    });
    const read = await readBinary(bytes);
    assert.ok(read.ok, read.ok ? '' : read.error.message);
    assert.deepEqual(read.value, values);
  });

  it('binary float16: each value within half-precision rounding (relative 2^-11)', async () => {
    const values = Float32Array.from([0.1, -2.5, 1000.7, -0.0001, 65504, 3.14159]);
    const encoded = encodeBinaryLogits(values, shape, 'float16');
    assert.ok(encoded.ok);
    const read = await readBinary(encoded.value);
    assert.ok(read.ok, read.ok ? '' : read.error.message);
    values.forEach((v, i) => {
      assert.ok(Math.abs(read.value[i]! - v) <= Math.abs(v) * 2 ** -11, `${v} -> ${read.value[i]}`);
    });
    // 1000.7 is not a half: it comes back as 1000.5, the nearest one.
    assert.equal(read.value[2], 1000.5);
  });

  it('float16 export refuses a value beyond 65504 instead of writing infinity', () => {
    const encoded = encodeBinaryLogits(Float32Array.from([1, 2, 3, 70000, 5, 6]), shape, 'float16');
    assert.ok(!encoded.ok);
    assert.match(encoded.error.message, /row 1, class 1: 70000 is beyond float16's range/);
  });

  describe('binary refusals name the file and what is wrong', () => {
    const good = (): Uint8Array => {
      const encoded = encodeBinaryLogits(Float32Array.from([1, 2, 3, 4, 5, 6]), shape, 'float32');
      assert.ok(encoded.ok);
      return encoded.value;
    };
    const withHeader = (header: object, matrixBytes: number, misalign = false): Uint8Array => {
      let json = JSON.stringify(header);
      while ((4 + json.length) % 8 !== 0) json += ' ';
      if (misalign) json += ' ';
      const out = new Uint8Array(4 + json.length + matrixBytes);
      new DataView(out.buffer).setUint32(0, json.length, true);
      out.set(Buffer.from(json), 4);
      return out;
    };
    const header = {
      format: 'fedistill-logits',
      version: 1,
      rows: 3,
      classes: 2,
      dtype: 'float32',
    };
    const binaryRefusal = async (bytes: Uint8Array, at = shape): Promise<string> => {
      const result = await readBinary(bytes, at);
      assert.ok(!result.ok, 'expected a refusal');
      assert.equal(result.error.code, 'data.invalid');
      assert.match(result.error.message, /\.bin: |\.bin header: /);
      return result.error.message;
    };

    it('truncated files: no header length, a cut header, a short matrix', async () => {
      assert.match(await binaryRefusal(good().subarray(0, 3)), /truncated: 3 bytes, too short/);
      assert.match(
        await binaryRefusal(good().subarray(0, 20)),
        /truncated: the header needs \d+ bytes, 16 follow/,
      );
      const bytes = good();
      assert.match(
        await binaryRefusal(bytes.subarray(0, bytes.length - 1)),
        /truncated: 3 x 2 float32 need 24 bytes after the header, 23 follow/,
      );
    });

    it('trailing bytes after the matrix', async () => {
      assert.match(
        await binaryRefusal(Uint8Array.from([...good(), 0, 0])),
        /2 bytes follow the matrix/,
      );
    });

    it('bad headers: huge length, not JSON, wrong format, version, dtype or keys, unaligned', async () => {
      const huge = good();
      new DataView(huge.buffer).setUint32(0, 1 << 30, true);
      assert.match(await binaryRefusal(huge), /header length is 1073741824 bytes, over 65536/);
      const notJson = good();
      notJson[4] = '|'.charCodeAt(0);
      assert.match(await binaryRefusal(notJson), /the header is not UTF-8 JSON/);
      assert.match(await binaryRefusal(withHeader({ ...header, format: 'npy' }, 24)), /format: /);
      assert.match(await binaryRefusal(withHeader({ ...header, version: 2 }, 24)), /version: /);
      assert.match(await binaryRefusal(withHeader({ ...header, dtype: 'int8' }, 24)), /dtype: /);
      assert.match(
        await binaryRefusal(withHeader({ ...header, model: 'x' }, 24)),
        /Unrecognized key/,
      );
      assert.match(
        await binaryRefusal(withHeader(header, 24, true)),
        /the matrix starts at byte \d+; pad the header with spaces so that it starts at a multiple of 8/,
      );
    });

    it('a header that does not match the public split or the run', async () => {
      assert.match(
        await binaryRefusal(good(), { rows: 4, classes: 2 }),
        /the header says 3 rows, the public split has 4/,
      );
      assert.match(
        await binaryRefusal(good(), { rows: 3, classes: 3 }),
        /the header says 2 classes, the run has 3/,
      );
    });

    it('a NaN or infinite value, named by row and class', async () => {
      const bytes = good();
      const start = bytes.length - 24;
      new DataView(bytes.buffer).setFloat32(start + 3 * 4, NaN, true);
      assert.match(await binaryRefusal(bytes), /row 1, class 1 is NaN/);
      const half = withHeader({ ...header, dtype: 'float16' }, 12);
      new DataView(half.buffer).setUint16(half.length - 12 + 4 * 2, toFloat16Bits(-Infinity), true);
      assert.match(await binaryRefusal(half), /row 2, class 0 is -Infinity/);
    });
  });

  it('writeTeacherLogits then readTeacherLogits gives the same matrix in JSONL and binary', async () => {
    const values = Float32Array.from([Math.fround(0.1), -1 / 3, 123.456, 1e-7, -5, 0]);
    for (const target of [
      { file: path.join(dir, 'out.jsonl'), format: 'jsonl' as const },
      { file: path.join(dir, 'out.bin'), format: 'binary' as const, dtype: 'float32' as const },
    ]) {
      const written = await writeTeacherLogits(target, values, shape);
      assert.ok(written.ok);
      const read = await readTeacherLogits(target, shape, policy());
      assert.ok(read.ok, read.ok ? '' : read.error.message);
      assert.deepEqual(read.value, values, target.format);
    }
  });
});

describe('the teacher source in the coordinator config', () => {
  const base = {
    identityFile: 'id.json',
    allowListFile: 'allow.json',
    data: { name: 'd', classes: 2, publicSplit: 'public.csv', heldOut: 'held-out.csv' },
    cacheDir: 'cache',
    reportFile: 'report.json',
  };
  const parse = (run: object) => parseCoordinatorConfig({ ...base, run }, '/cfg');
  const configRefusal = (run: object): string => {
    try {
      parse(run);
    } catch (error) {
      assert.ok(error instanceof FedistillError);
      assert.equal(error.code, 'config.invalid');
      return error.message;
    }
    assert.fail('expected a refusal');
  };

  it('a config without a source (as before) trains a model, with the old defaults', () => {
    assert.deepEqual(parse({}).run!.teacher, {
      source: 'model',
      hidden: [64, 32],
      epochs: 150,
      batchSize: 32,
      learningRate: 0.005,
    });
    assert.deepEqual(parse({ teacher: { hidden: [16], epochs: 3 } }).run!.teacher, {
      source: 'model',
      hidden: [16],
      epochs: 3,
      batchSize: 32,
      learningRate: 0.005,
    });
  });

  it('imported logits: the format comes from the extension and the file resolves against the config', () => {
    assert.deepEqual(
      parse({ teacher: { source: 'logits', file: 'llm/logits.jsonl' } }).run!.teacher,
      {
        source: 'logits',
        file: '/cfg/llm/logits.jsonl',
        format: 'jsonl',
      },
    );
    assert.equal(
      parse({ teacher: { source: 'logits', file: 'l.bin' } }).run!.teacher.source,
      'logits',
    );
    assert.deepEqual(
      parse({ teacher: { source: 'logits', file: 'l.dat', format: 'binary' } }).run!.teacher,
      { source: 'logits', file: '/cfg/l.dat', format: 'binary' },
    );
  });

  it('refuses an unknown extension without a format, model settings on imported logits, and hidden-state distillation without a model', () => {
    assert.match(
      configRefusal({ teacher: { source: 'logits', file: 'l.txt' } }),
      /run\.teacher\.format: cannot tell the format of l\.txt/,
    );
    assert.match(
      configRefusal({ teacher: { source: 'logits', file: 'l.jsonl', epochs: 3 } }),
      /run\.teacher: Unrecognized key: "epochs"/,
    );
    assert.match(
      configRefusal({
        teacher: { source: 'logits', file: 'l.jsonl' },
        distillation: {
          mode: 'transfer-set',
          hiddenState: { studentLayer: 'hidden_1', weight: 1 },
        },
      }),
      /run\.distillation\.hiddenState: hidden-state distillation needs a teacher model/,
    );
    assert.equal(
      parse({
        teacher: { source: 'logits', file: 'l.jsonl' },
        distillation: { mode: 'class-logits' },
      }).run!.distillation.mode,
      'class-logits',
    );
  });
});
