import type { WireTensor } from './tensor-codec.js';

/**
 * Writes wire tensors as the MessagePack of a tensor blob (spec:
 * github.com/msgpack/msgpack/blob/master/spec.md), with each tensor's `data` starting at a
 * multiple of 4 bytes from the start of the blob. A receiver whose blob starts aligned (blob
 * transfer assembles it into a fresh buffer) then views float32 values in place instead of
 * copying them, a pass over each update fewer at the coordinator. The padding is in header
 * widths only: the `encoding` string and the `data` key may take a wider string header than they
 * need (str8 or str16 for a fixstr), a bin a wider bin header, and every MessagePack decoder reads
 * the same values. `scales` and `indices` are aligned where such widths allow.
 */
export function writeTensorBlob(tensors: readonly WireTensor[]): Uint8Array {
  const out = new PieceWriter();
  out.push(arrayHeader(tensors.length));
  for (const t of tensors) {
    const bins = BIN_FIELDS.filter((field) => t[field] !== undefined);
    out.push([0x80 | (3 + bins.length)]); // fixmap: name, shape, encoding and the bins
    out.push(...text('name', 1), ...text(t.name, 1));
    out.push(...text('shape', 1), arrayHeader(t.shape.length), ...t.shape.map(unsigned));
    out.push(...text('encoding', 1));
    bins.forEach((field, i) => {
      const data = t[field]!;
      // Before `data` the encoding string pads too, so any offset can be reached.
      const strings = i === 0 ? [t.encoding, field] : [field];
      const widths = alignedWidths(out.length, strings, data.byteLength);
      if (i === 0) out.push(...text(t.encoding, widths.strings[0]!));
      out.push(...text(field, widths.strings[strings.length - 1]!));
      out.push(binHeader(data.byteLength, widths.bin), data);
    });
  }
  return out.bytes();
}

const BIN_FIELDS = ['data', 'scales', 'indices'] as const;

/** Header widths in bytes: fixstr, str8, str16, str32; bin8, bin16, bin32. */
const STRING_WIDTHS = [1, 2, 3, 5];
const BIN_WIDTHS = [2, 3, 5];
const minimalStringWidth = (length: number): number =>
  length < 32 ? 1 : length < 256 ? 2 : length < 65536 ? 3 : 5;
const minimalBinWidth = (length: number): number => (length < 256 ? 2 : length < 65536 ? 3 : 5);

/**
 * Widths for the strings just before a bin and for its header so that the bin's bytes start at a
 * multiple of 4, preferring the fewest added bytes; the minimal widths when none does.
 */
function alignedWidths(
  position: number,
  strings: readonly string[],
  binLength: number,
): { strings: number[]; bin: number } {
  const lengths = strings.map((s) => new TextEncoder().encode(s).length);
  const fixed = lengths.reduce((a, b) => a + b, 0);
  let choices: number[][] = [[]];
  for (const length of lengths) {
    const widths = STRING_WIDTHS.filter((w) => w >= minimalStringWidth(length));
    choices = choices.flatMap((c) => widths.map((w) => [...c, w]));
  }
  const bins = BIN_WIDTHS.filter((w) => w >= minimalBinWidth(binLength));
  const all = choices.flatMap((c) => bins.map((bin) => ({ strings: c, bin })));
  const size = (c: { strings: number[]; bin: number }): number =>
    c.strings.reduce((a, b) => a + b, 0) + c.bin;
  all.sort((a, b) => size(a) - size(b));
  return all.find((c) => (position + fixed + size(c)) % 4 === 0) ?? all[0]!;
}

const bigEndian = (n: number, bytes: number): number[] =>
  Array.from({ length: bytes }, (_, i) => (n >>> (8 * (bytes - 1 - i))) & 0xff);

function arrayHeader(length: number): number[] {
  if (length < 16) return [0x90 | length];
  return length < 65536 ? [0xdc, ...bigEndian(length, 2)] : [0xdd, ...bigEndian(length, 4)];
}

function unsigned(n: number): number[] {
  if (n < 128) return [n];
  if (n < 256) return [0xcc, n];
  return n < 65536 ? [0xcd, ...bigEndian(n, 2)] : [0xce, ...bigEndian(n, 4)];
}

function stringHeader(length: number, width: number): number[] {
  switch (width) {
    case 1:
      return [0xa0 | length];
    case 2:
      return [0xd9, length];
    case 3:
      return [0xda, ...bigEndian(length, 2)];
    default:
      return [0xdb, ...bigEndian(length, 4)];
  }
}

function binHeader(length: number, width: number): number[] {
  switch (width) {
    case 2:
      return [0xc4, length];
    case 3:
      return [0xc5, ...bigEndian(length, 2)];
    default:
      return [0xc6, ...bigEndian(length, 4)];
  }
}

/** A string with a header of `width` bytes (1 asks for the minimal one). */
function text(s: string, width: number): (number[] | Uint8Array)[] {
  const bytes = new TextEncoder().encode(s);
  return [stringHeader(bytes.length, Math.max(width, minimalStringWidth(bytes.length))), bytes];
}

/** Headers and payloads, joined into one buffer at the end (payloads are copied once). */
class PieceWriter {
  private readonly pieces: (readonly number[] | Uint8Array)[] = [];
  length = 0;

  push(...pieces: (readonly number[] | Uint8Array)[]): void {
    for (const piece of pieces) {
      this.pieces.push(piece);
      this.length += piece.length;
    }
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const piece of this.pieces) {
      out.set(piece, at);
      at += piece.length;
    }
    return out;
  }
}
