import {
  encodeWasmModule,
  F32,
  I32,
  V128,
  webAssembly,
  type Instruction,
  type WasmMemory,
} from './wasm-module.js';

/**
 * out[i] = x[i] + w * y[i] for n float32 values, four at a time (f32x4), answering in the same
 * pass whether every out[i] is finite: the fold of an update into a running sum, and the check
 * that refuses NaN and infinities (in the update, or overflowing the sum), with one read of each
 * input. Arithmetic is float32 throughout: w * y[i] is rounded before the add, as numpy's
 * float32 `acc += w * d` does. x, y and out are byte addresses in the memory, and are best
 * 16-byte aligned (any alignment is correct); out may be x.
 */
export type ScaledAdd = (x: number, y: number, out: number, n: number, w: number) => number;

// Parameters, then locals, by index.
const [X, Y, OUT, N, W, END, STOP, WEIGHTS, SUM, NON_FINITE, SUM_1, NON_FINITE_1] = [
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
];

const advance = (bytes: number): Instruction[] =>
  [X, Y, OUT].flatMap((p): Instruction[] => [
    ['local.get', p],
    ['i32.const', bytes],
    ['i32.add'],
    ['local.set', p],
  ]);

/** Four lanes at byte `offset` from x, y and out. */
const fourLanes = (offset: number): Instruction[] => [
  ['local.get', OUT],
  ['local.get', X],
  ['v128.load', offset],
  ['local.get', Y],
  ['v128.load', offset],
  ['local.get', WEIGHTS],
  ['f32x4.mul'],
  ['f32x4.add'],
  ['local.tee', SUM],
  ['v128.store', offset],
  // s - s is +0 (no bit set) for every finite s, and NaN (bits set) for NaN and +-Infinity:
  // OR-ing the differences keeps a bit set once any lane was not finite.
  ['local.get', NON_FINITE],
  ['local.get', SUM],
  ['local.get', SUM],
  ['f32x4.sub'],
  ['v128.or'],
  ['local.set', NON_FINITE],
];

/** One value: the tail past the last whole group of 16. */
const oneLane: Instruction[] = [
  ['local.get', OUT],
  ['local.get', X],
  ['f32.load', 0],
  ['local.get', Y],
  ['f32.load', 0],
  ['local.get', W],
  ['f32.mul'],
  ['f32.add'],
  ['local.tee', SUM_1],
  ['f32.store', 0],
  ['local.get', NON_FINITE_1],
  ['local.get', SUM_1],
  ['local.get', SUM_1],
  ['f32.sub'],
  ['i32.reinterpret_f32'],
  ['i32.or'],
  ['local.set', NON_FINITE_1],
];

/** `while (x < limit) { step; x, y, out += bytes }` */
const loopUntil = (limit: number, step: Instruction[], bytes: number): Instruction[] => [
  ['block'],
  ['loop'],
  ['local.get', X],
  ['local.get', limit],
  ['i32.ge_u'],
  ['br_if', 1],
  ...step,
  ...advance(bytes),
  ['br', 0],
  ['end'],
  ['end'],
];

const scaledAdd: Instruction[] = [
  // end = x + 4n
  ['local.get', X],
  ['local.get', N],
  ['i32.const', 2],
  ['i32.shl'],
  ['i32.add'],
  ['local.set', END],
  // stop = end - 4 (n mod 16): where the groups of 16 values (four f32x4, 64 bytes) end
  ['local.get', END],
  ['local.get', N],
  ['i32.const', 15],
  ['i32.and'],
  ['i32.const', 2],
  ['i32.shl'],
  ['i32.sub'],
  ['local.set', STOP],
  ['local.get', W],
  ['f32x4.splat'],
  ['local.set', WEIGHTS],
  ['i32.const', 0],
  ['i32x4.splat'],
  ['local.set', NON_FINITE],
  // Four independent vectors an iteration, so the loads of one overlap the arithmetic of another.
  ...loopUntil(STOP, [...fourLanes(0), ...fourLanes(16), ...fourLanes(32), ...fourLanes(48)], 64),
  ...loopUntil(END, oneLane, 4),
  // finite = !(any bit set in NON_FINITE or NON_FINITE_1)
  ['local.get', NON_FINITE],
  ['v128.any_true'],
  ['local.get', NON_FINITE_1],
  ['i32.or'],
  ['i32.eqz'],
];

const kernelModule = new webAssembly.Module(
  encodeWasmModule([
    {
      name: 'scaledAdd',
      params: [I32, I32, I32, I32, F32],
      results: [I32],
      locals: [I32, I32, V128, V128, V128, F32, I32],
      body: scaledAdd,
    },
  ]),
);

/** The kernel over `memory`; the memory may grow afterwards, as an instance follows it. */
export function scaledAddKernel(memory: WasmMemory): ScaledAdd {
  const instance = new webAssembly.Instance(kernelModule, { env: { memory } });
  return instance.exports['scaledAdd'] as ScaledAdd;
}
