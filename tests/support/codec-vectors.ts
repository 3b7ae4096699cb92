import {
  describeBlob,
  encodeMessage,
  encodeTensorBlob,
  signTreeHead,
  TENSOR_ENCODINGS,
  toHex,
  unwrap,
  type CoordinatorMessage,
  type SiteMessage,
  type Sodium,
} from '../../protocol/index.js';

/**
 * The vectors of PROTOCOL.md sections 5 to 7 on fixed inputs: a blob manifest, a tensor blob in
 * every encoding, and one encoded message of each type. Written by write-vectors.ts, checked by
 * tests/protocol/conformance.test.ts.
 */

const fill = (length: number, byte: number) => new Uint8Array(length).fill(byte);
/** Bytes 0, 1, 2, ... (mod 256): a blob whose every chunk differs. */
const counting = (length: number) => Uint8Array.from({ length }, (_, i) => i % 256);

export const MANIFEST_INPUT = { bytes: 2600, chunkBytes: 1024, content: 'byte i is i mod 256' };

export function blobManifestVector(sodium: Sodium) {
  const manifest = describeBlob(sodium, counting(MANIFEST_INPUT.bytes), MANIFEST_INPUT.chunkBytes);
  return {
    kind: 'blob-manifest',
    description: 'fedistill protocol v1: the manifest of a blob (section 6), BLAKE2b-256 hashes',
    inputs: MANIFEST_INPUT,
    manifest: {
      hash: toHex(manifest.hash),
      bytes: manifest.bytes,
      chunkBytes: manifest.chunkBytes,
      chunkHashes: manifest.chunkHashes.map(toHex),
    },
  };
}

/** Two tensors whose values are exact in float16 and whose int8 scales are round. */
export const TENSOR_INPUT = [
  { name: 'dense/kernel', shape: [2, 3], values: [0.5, -1.25, 2, 0, -0.75, 127] },
  { name: 'dense/bias', shape: [3], values: [0.25, -0.5, 0.125] },
];
export const TOPK_FRACTION = 0.5;

export function tensorBlobVector() {
  const tensors = TENSOR_INPUT.map((t) => ({ ...t, values: Float32Array.from(t.values) }));
  return {
    kind: 'tensor-blob',
    description:
      'fedistill protocol v1: one model blob (section 7) in every tensor encoding; topk keeps topkFraction',
    inputs: { tensors: TENSOR_INPUT, topkFraction: TOPK_FRACTION },
    blobs: Object.fromEntries(
      TENSOR_ENCODINGS.map((encoding) => [
        encoding,
        toHex(unwrap(encodeTensorBlob(tensors, encoding, { topkFraction: TOPK_FRACTION }))),
      ]),
    ),
  };
}

/** A representative instance of every message type, with byte fields as fixed fills. */
export function messageInstances(sodium: Sodium): (CoordinatorMessage | SiteMessage)[] {
  const manifest = describeBlob(sodium, counting(2600), 1024);
  const runId = 'run-7f3a';
  const round = 2;
  const keys = {
    site: 'bank-a',
    maskPublicKey: fill(32, 0x21),
    encryptionPublicKey: fill(32, 0x22),
    selfMaskCommitment: fill(32, 0x23),
    maskKeyCommitment: fill(32, 0x24),
    signature: fill(64, 0x25),
  };
  const share = { from: 'bank-a', to: 'bank-b', ciphertext: fill(105, 0x26) };
  const signature = { site: 'bank-a', signature: fill(64, 0x27) };
  const identity = sodium.crypto_sign_seed_keypair(fill(32, 0x01));
  const head = signTreeHead(sodium, identity.privateKey, {
    size: 3,
    root: fill(32, 0x28),
    time: new Date(Date.UTC(2026, 2, 1, 12, 0, 0, 250)),
  });
  return [
    {
      type: 'run.welcome',
      runId,
      site: 'bank-a',
      rounds: 5,
      student: { kind: 'mlp', inputs: 4, hidden: [8], classes: 3 },
      features: ['age', 'income', 'debt', 'tenure'],
      normalizer: { mean: [0, 1.5, -2, 10], std: [1, 0.5, 2, 4] },
      teacher: {
        mode: 'transfer-set',
        blob: manifest,
        rows: 50,
        features: 4,
        classes: 3,
        hiddenWidth: 6,
      },
    },
    {
      type: 'round.start',
      runId,
      round,
      modelVersion: 1,
      temperature: 2.5,
      alpha: 0.5,
      localEpochs: 1,
      batchSize: 32,
      learningRate: 0.01,
      labelSmoothing: 0.1,
      proximalMu: 0.01,
      updateEncoding: 'float16',
      topkFraction: 0.1,
      clipNorm: 1.5,
      model: manifest,
      secureAggregation: {
        attempt: 0,
        participants: ['bank-a', 'bank-b', 'bank-c'],
        identities: [{ site: 'bank-a', publicKey: identity.publicKey }],
        graphSeed: 42,
        degree: 2,
        threshold: 2,
        clip: 0.5,
        levels: 65536,
        noiseSigma2: 4.5,
      },
    },
    { type: 'blob.request', hash: manifest.hash, from: 0, count: 3 },
    { type: 'blob.chunk', hash: manifest.hash, index: 2, data: counting(16) },
    { type: 'update.accepted', runId, round },
    { type: 'update.rejected', runId, round, code: 'update.stale_round' },
    { type: 'run.complete', runId, rounds: 5 },
    { type: 'audit.tree_head', head },
    {
      type: 'secagg.roster',
      runId,
      round,
      roster: { participants: ['bank-a', 'bank-b', 'bank-c'], keys: [keys] },
    },
    { type: 'secagg.relay', runId, round, shares: [share] },
    { type: 'secagg.survivors', runId, round, set: { survivors: ['bank-a', 'bank-b'] } },
    {
      type: 'secagg.unmask',
      runId,
      round,
      request: { survivors: ['bank-a', 'bank-b'], dropped: ['bank-c'], signatures: [signature] },
    },
    { type: 'site.ready', transferHash: manifest.hash, backend: 'wasm' },
    {
      type: 'round.update',
      runId,
      round,
      baseVersion: 1,
      numExamples: 120,
      delta: manifest,
      metrics: { validationAccuracy: 0.75, validationLoss: 0.5 },
    },
    { type: 'secagg.keys', runId, round, keys },
    { type: 'secagg.shares', runId, round, shares: [share] },
    { type: 'secagg.signature', runId, round, signature },
    {
      type: 'secagg.unmask_response',
      runId,
      round,
      response: {
        site: 'bank-a',
        selfMaskShares: [{ owner: 'bank-b', share: fill(32, 0x29) }],
        maskKeyShares: [{ owner: 'bank-c', share: fill(32, 0x2a) }],
      },
    },
    { type: 'site.leave', reason: 'run.complete' },
  ] as (CoordinatorMessage | SiteMessage)[];
}

export function messagesVector(sodium: Sodium) {
  return {
    kind: 'messages',
    description:
      'fedistill protocol v1: the MessagePack bytes (section 5.1) of one message of each type; byte fields in the JSON form are hex',
    messages: messageInstances(sodium).map((message) => ({
      type: message.type,
      message: JSON.parse(
        JSON.stringify(message, (_key, value: unknown) =>
          value instanceof Uint8Array ? toHex(value) : value,
        ),
      ) as unknown,
      encoded: toHex(encodeMessage(message)),
    })),
  };
}
