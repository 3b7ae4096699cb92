import type { Sodium } from '../sodium.js';

/**
 * What one SecAgg+ round is: the run, the round and the attempt (a restarted round is a new
 * attempt). Its hash is bound into every signature, seed, share key and associated data, so
 * nothing from one round can be replayed into another.
 */
export interface RoundContext {
  readonly runId: string;
  readonly round: number;
  readonly attempt: number;
}

const CONTEXT_LABEL = 'fedistill/1 secagg round';
const encoder = new TextEncoder();

/**
 * An unambiguous encoding of a list of fields: each is a u32 little-endian length and its
 * bytes (strings as UTF-8, numbers as decimal text), so no two lists encode alike.
 */
export function encodeFields(...fields: readonly (string | number | Uint8Array)[]): Uint8Array {
  const parts = fields.map((f) =>
    f instanceof Uint8Array ? f : encoder.encode(typeof f === 'number' ? String(f) : f),
  );
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const part of parts) {
    view.setUint32(offset, part.length, true);
    out.set(part, offset + 4);
    offset += 4 + part.length;
  }
  return out;
}

export function roundContextHash(sodium: Sodium, context: RoundContext): Uint8Array {
  return sodium.crypto_generichash(
    32,
    encodeFields(CONTEXT_LABEL, context.runId, context.round, context.attempt),
    null,
  );
}
