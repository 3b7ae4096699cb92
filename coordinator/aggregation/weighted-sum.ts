import { fail, ok, type NamedTensor, type Result } from '../../protocol/index.js';
import { scaledAddKernel } from './scaled-add-kernel.js';
import { MAX_WASM_PAGES, WASM_PAGE_BYTES, webAssembly } from './wasm-module.js';

/** A round's running sum of weight x delta over tensor lists shaped like the global model. */
export interface WeightedSum {
  /**
   * sum += weight x delta in one pass. Refuses, leaving the sum unchanged, a delta of other
   * lengths (update.shape_mismatch) and one where a result is NaN or infinite
   * (update.non_finite): the delta held NaN or an infinity, or the sum overflowed.
   */
  add(delta: readonly NamedTensor[], weight: number): Result<true>;
  /** The sum, as views of its memory: valid until the next `add` or the next round's start. */
  tensors(): NamedTensor[];
}

/** Values copied into the kernel's memory at a time: 128 KiB, still in L2 when the kernel reads them. */
const BLOCK_VALUES = 32768;
/** Lanes of an f32x4: each tensor starts 16-byte aligned. */
const LANES = 4;

/**
 * The memory of one run's weighted sums, in WebAssembly so an update is folded in by the SIMD
 * kernel (scaled-add-kernel.ts), laid out as [sum A | sum B | block]. Each delta is copied in a
 * block at a time and summed from the current buffer into the other, which becomes current only
 * when every result is finite: refusing NaN costs no pass of its own, and a refused update leaves
 * the sum as it was. The memory is allocated once and reused round after round, as first
 * touches of fresh pages cost more than a round of folds (bench/aggregation); a round's `start`
 * voids the sum of the round before, and using a void sum is a bug that throws.
 */
export class WeightedSumMemory {
  private readonly memory = new webAssembly.Memory({ initial: 0 });
  private readonly scaledAdd = scaledAddKernel(this.memory);
  private generation = 0;

  /** A zero sum shaped like `like`. */
  start(like: readonly NamedTensor[]): WeightedSum {
    const generation = ++this.generation;
    // Where each tensor starts within a buffer, in values.
    const offsets: number[] = [];
    let bufferValues = 0;
    for (const t of like) {
      offsets.push(bufferValues);
      bufferValues += Math.ceil(t.values.length / LANES) * LANES;
    }
    const blockAt = 2 * bufferValues;
    this.fit((blockAt + BLOCK_VALUES) * 4);
    new Float32Array(this.memory.buffer, 0, bufferValues).fill(0);
    let current = 0;

    const live = (): Float32Array => {
      if (generation !== this.generation) {
        throw new Error('a weighted sum was used after the next round started');
      }
      return new Float32Array(this.memory.buffer);
    };
    return {
      add: (delta, weight) => {
        const heap = live();
        const from = current * bufferValues;
        const to = (1 - current) * bufferValues;
        if (
          delta.length !== like.length ||
          delta.some((t, i) => t.values.length !== like[i]!.values.length)
        ) {
          return fail('update.shape_mismatch', "the delta does not have the sum's tensor lengths");
        }
        for (let t = 0; t < delta.length; t++) {
          const values = delta[t]!.values;
          const at = offsets[t]!;
          for (let i = 0; i < values.length; i += BLOCK_VALUES) {
            const n = Math.min(BLOCK_VALUES, values.length - i);
            heap.set(values.subarray(i, i + n), blockAt);
            if (!this.scaledAdd(4 * (from + at + i), 4 * blockAt, 4 * (to + at + i), n, weight)) {
              return fail(
                'update.non_finite',
                `tensor ${delta[t]!.name} holds NaN or infinite values, or overflows the sum`,
                [t],
              );
            }
          }
        }
        current = 1 - current;
        return ok(true);
      },
      tensors: () => {
        const buffer = live().buffer;
        return like.map((t, i) => ({
          name: t.name,
          shape: t.shape,
          values: new Float32Array(
            buffer,
            4 * (current * bufferValues + offsets[i]!),
            t.values.length,
          ),
        }));
      },
    };
  }

  /** Grows the memory to at least `bytes`; a 32-bit memory stops short of 4 GiB here, so addresses never wrap. */
  private fit(bytes: number): void {
    const pages = Math.ceil(bytes / WASM_PAGE_BYTES);
    if (pages >= MAX_WASM_PAGES) {
      throw new RangeError(
        `a weighted sum of ${bytes} bytes does not fit in WebAssembly's 4 GiB memory`,
      );
    }
    const have = this.memory.buffer.byteLength / WASM_PAGE_BYTES;
    if (pages > have) this.memory.grow(pages - have);
  }
}
