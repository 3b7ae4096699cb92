import {
  decodeTensorBlob,
  encodeTensorBlob,
  type NamedTensor,
  type Result,
  type TensorEncoding,
} from '../protocol/index.js';

/** Applies `f` element-wise over matching tensor lists. */
function zipWith(
  a: readonly NamedTensor[],
  b: readonly NamedTensor[],
  f: (x: number, y: number) => number,
): NamedTensor[] {
  return a.map((t, i) => {
    const other = b[i]!.values;
    const values = new Float32Array(t.values.length);
    for (let j = 0; j < values.length; j++) values[j] = f(t.values[j]!, other[j]!);
    return { name: t.name, shape: t.shape, values };
  });
}

/** The update a site returns: trained weights minus the global weights it started from. */
export function weightDelta(
  trained: readonly NamedTensor[],
  global: readonly NamedTensor[],
): NamedTensor[] {
  return zipWith(trained, global, (t, g) => t - g);
}

/**
 * Error feedback for lossy update encodings (Stich et al. 2018, "Sparsified SGD with Memory";
 * Karimireddy et al. 2019): what compression dropped from one round's update is added to the
 * next one before it is compressed, so nothing is lost for good, only delayed. The residual
 * stays at the site.
 */
export class ErrorFeedback {
  private residual: NamedTensor[] | undefined;

  /** Encodes `delta` plus the carried residual; keeps what the encoding lost for next time. */
  encode(
    delta: readonly NamedTensor[],
    encoding: TensorEncoding,
    topkFraction?: number,
  ): Result<Uint8Array> {
    const compensated = this.residual ? zipWith(delta, this.residual, (d, r) => d + r) : [...delta];
    const encoded = encodeTensorBlob(
      compensated,
      encoding,
      topkFraction === undefined ? {} : { topkFraction },
    );
    if (!encoded.ok) return encoded;
    const sent = decodeTensorBlob(encoded.value);
    if (!sent.ok) return sent;
    this.residual = zipWith(compensated, sent.value, (c, s) => c - s);
    return encoded;
  }

  get carried(): readonly NamedTensor[] | undefined {
    return this.residual;
  }
}
