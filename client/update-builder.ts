import {
  clipByL2,
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

/** A secure round's masking (SiteSecureRound): the update as the coordinator will see it. */
export interface UpdateMasker {
  masked(delta: readonly NamedTensor[]): Promise<Result<Uint8Array>>;
}

/** What one round's update is built from. */
export interface UpdateInputs {
  readonly trained: readonly NamedTensor[];
  readonly global: readonly NamedTensor[];
  /** The round's bound on the delta's L2 norm, when it has one. */
  readonly clipNorm?: number | undefined;
  readonly encoding: TensorEncoding;
  readonly topkFraction?: number | undefined;
  /** The site's residual across rounds; lossy encodings of plain rounds use it. */
  readonly feedback: ErrorFeedback;
  /** Set in a secure round: the clipped delta is masked instead of encoded. */
  readonly secure?: UpdateMasker | undefined;
}

/**
 * The bytes a site sends for one round: the delta (trained minus global), clipped to the
 * round's L2 bound, then either masked for secure aggregation, or encoded as the round asks,
 * with error feedback when the encoding is lossy. A secure round's masking quantizes to its own
 * fixed point, and its sum is all the coordinator sees, so it carries no residual.
 */
export async function buildUpdate(inputs: UpdateInputs): Promise<Result<Uint8Array>> {
  const raw = weightDelta(inputs.trained, inputs.global);
  const delta = inputs.clipNorm === undefined ? raw : clipByL2(raw, inputs.clipNorm).delta;
  if (inputs.secure) return inputs.secure.masked(delta);
  // float32 is lossless; every other encoding carries what it dropped into the next round.
  return inputs.encoding === 'float32'
    ? encodeTensorBlob(delta, 'float32')
    : inputs.feedback.encode(delta, inputs.encoding, inputs.topkFraction);
}
