/**
 * Just enough of the WebAssembly binary format (core spec 2.0, section 5, "Binary Format", with
 * its 128-bit SIMD instructions) to turn instruction lists written in the text format's names
 * into a module, so a kernel's source is the commented list beside it and not a byte blob.
 * Only what the kernels here use: an imported memory, exported functions, and the instructions below.
 */

/** Value types (spec 5.3.1). */
export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
type ValueType = typeof I32 | typeof F32 | typeof V128;

/** How an instruction's immediates are encoded after its opcode. */
type Immediate = 'none' | 'block' | 'index' | 'i32' | 'memarg';

/** Opcodes (spec 5.4); SIMD ones are 0xfd then a LEB128 number. `align` is log2 of the natural alignment. */
const INSTRUCTIONS = {
  block: { code: [0x02], imm: 'block' },
  loop: { code: [0x03], imm: 'block' },
  end: { code: [0x0b], imm: 'none' },
  br: { code: [0x0c], imm: 'index' },
  br_if: { code: [0x0d], imm: 'index' },
  'local.get': { code: [0x20], imm: 'index' },
  'local.set': { code: [0x21], imm: 'index' },
  'local.tee': { code: [0x22], imm: 'index' },
  'i32.const': { code: [0x41], imm: 'i32' },
  'i32.eqz': { code: [0x45], imm: 'none' },
  'i32.ge_u': { code: [0x4f], imm: 'none' },
  'i32.add': { code: [0x6a], imm: 'none' },
  'i32.sub': { code: [0x6b], imm: 'none' },
  'i32.and': { code: [0x71], imm: 'none' },
  'i32.or': { code: [0x72], imm: 'none' },
  'i32.shl': { code: [0x74], imm: 'none' },
  'i32.reinterpret_f32': { code: [0xbc], imm: 'none' },
  'f32.load': { code: [0x2a], imm: 'memarg', align: 2 },
  'f32.store': { code: [0x38], imm: 'memarg', align: 2 },
  'f32.add': { code: [0x92], imm: 'none' },
  'f32.sub': { code: [0x93], imm: 'none' },
  'f32.mul': { code: [0x94], imm: 'none' },
  'v128.load': { code: [0xfd, 0x00], imm: 'memarg', align: 4 },
  'v128.store': { code: [0xfd, 0x0b], imm: 'memarg', align: 4 },
  'i32x4.splat': { code: [0xfd, 0x11], imm: 'none' },
  'f32x4.splat': { code: [0xfd, 0x13], imm: 'none' },
  'v128.or': { code: [0xfd, 0x50], imm: 'none' },
  'v128.any_true': { code: [0xfd, 0x53], imm: 'none' },
  'f32x4.add': { code: [0xfd, 0xe4, 0x01], imm: 'none' },
  'f32x4.sub': { code: [0xfd, 0xe5, 0x01], imm: 'none' },
  'f32x4.mul': { code: [0xfd, 0xe6, 0x01], imm: 'none' },
} as const satisfies Record<string, { code: readonly number[]; imm: Immediate; align?: number }>;

type Mnemonic = keyof typeof INSTRUCTIONS;
/** One instruction: its text-format name and its immediate (index, constant or memory offset), if any. */
export type Instruction = readonly [Mnemonic] | readonly [Mnemonic, number];

export interface WasmFunction {
  readonly name: string;
  readonly params: readonly ValueType[];
  readonly results: readonly ValueType[];
  /** Types of the locals declared after the parameters (indices continue from them). */
  readonly locals: readonly ValueType[];
  readonly body: readonly Instruction[];
}

function unsignedLeb128(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function signedLeb128(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

const vector = (items: readonly (readonly number[])[]): number[] => [
  ...unsignedLeb128(items.length),
  ...items.flat(),
];
const name = (text: string): number[] =>
  vector([...new TextEncoder().encode(text)].map((b) => [b]));
const section = (id: number, body: readonly number[]): number[] => [
  id,
  ...unsignedLeb128(body.length),
  ...body,
];

function encodeInstruction([mnemonic, immediate = 0]: Instruction): number[] {
  const spec: { code: readonly number[]; imm: Immediate; align?: number } = INSTRUCTIONS[mnemonic];
  switch (spec.imm) {
    case 'none':
      return [...spec.code];
    case 'block':
      return [...spec.code, 0x40]; // empty block type: no parameters, no results
    case 'index':
      return [...spec.code, ...unsignedLeb128(immediate)];
    case 'i32':
      return [...spec.code, ...signedLeb128(immediate)];
    case 'memarg':
      return [...spec.code, ...unsignedLeb128(spec.align ?? 0), ...unsignedLeb128(immediate)];
    default: {
      const unreachable: never = spec.imm;
      return unreachable;
    }
  }
}

/** A module importing its memory as env.memory and exporting `functions` under their names. */
export function encodeWasmModule(functions: readonly WasmFunction[]): Uint8Array {
  const types = functions.map((f) => [
    0x60,
    ...vector(f.params.map((t) => [t])),
    ...vector(f.results.map((t) => [t])),
  ]);
  const memoryImport = [...name('env'), ...name('memory'), 0x02, 0x00, 0x00]; // memory, limits: min 0 pages, no max
  const exports = functions.map((f, i) => [...name(f.name), 0x00, ...unsignedLeb128(i)]);
  const bodies = functions.map((f) => {
    const body = [
      ...vector(f.locals.map((t) => [1, t])),
      ...f.body.flatMap(encodeInstruction),
      ...encodeInstruction(['end']),
    ];
    return [...unsignedLeb128(body.length), ...body];
  });
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, vector(types)),
    ...section(2, vector([memoryImport])),
    ...section(3, vector(functions.map((_, i) => unsignedLeb128(i)))),
    ...section(7, vector(exports)),
    ...section(10, vector(bodies)),
  ]);
}

/**
 * The WebAssembly JS API, typed for what we use: @types/node does not declare it (TypeScript
 * keeps it in lib.dom), and the project's lib is ES2022 only.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (
    module: object,
    imports: { env: { memory: WasmMemory } },
  ) => {
    exports: Record<string, unknown>;
  };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
}
export const webAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

export const WASM_PAGE_BYTES = 65536;
/** A 32-bit memory holds at most 2^16 pages (4 GiB). */
export const MAX_WASM_PAGES = 65536;
