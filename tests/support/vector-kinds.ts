import assert from 'node:assert/strict';
import {
  canonicalJson,
  decodeCoordinatorMessage,
  decodeSiteMessage,
  decodeTensorBlob,
  encodeMessage,
  FrameSender,
  openShare,
  SITE_MESSAGE_TYPES,
  toHex,
  unwrap,
  verifyConsistency,
  verifyInclusion,
  verifyTreeHead,
  type Sodium,
} from '../../protocol/index.js';
import { canonicalJsonVector, merkleVector, treeHeadVector } from './audit-vectors.js';
import {
  blobManifestVector,
  messagesVector,
  tensorBlobVector,
  TENSOR_INPUT,
} from './codec-vectors.js';
import { secaggDerivationsVector } from './secagg-derivations-vector.js';
import { survivorSetVector } from './secagg-vector.js';
import { openVectorFrame, runVectorHandshake, VECTOR_SEEDS } from './vector-inputs.js';

/**
 * Every kind of file in protocol/vectors/: the file it lives in, how write-vectors.ts builds it,
 * and how tests/protocol/conformance.test.ts checks the implementation against it. A file is
 * named by its `kind` field; PROTOCOL.md section 9 describes each.
 */
export interface VectorKind {
  readonly file: string;
  /** The vector from the fixed inputs; `previous`, the file as it stands, keeps random parts. */
  build(sodium: Sodium, previous?: Record<string, unknown>): unknown;
  /** Throws (an assertion) where the implementation disagrees with the recorded vector. */
  check(sodium: Sodium, recorded: Record<string, unknown>): void;
}

type Json = Record<string, unknown>;
const bytes = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'));
/** Everything but the named random fields must be what the code derives from the inputs. */
const without = (value: Json, ...random: string[]) =>
  Object.fromEntries(Object.entries(value).filter(([key]) => !random.includes(key)));

function handshakeVector(sodium: Sodium, previous?: Json) {
  const handshake = runVectorHandshake(sodium);
  const vector = {
    kind: 'handshake',
    description:
      'fedistill protocol v1: SIGMA-I handshake on fixed seeds, and the first site frame',
    seeds: VECTOR_SEEDS,
    ...handshake,
  };
  // The secretstream header is random by design: a recorded frame that still opens is kept.
  const kept = previous?.firstFrame as { streamHeader: string; frame: string } | undefined;
  if (kept && previous?.siteToCoordinatorKey === handshake.siteToCoordinatorKey) {
    return { ...vector, firstFrame: kept };
  }
  const sender = new FrameSender(sodium, bytes(handshake.siteToCoordinatorKey!));
  const plaintext = encodeMessage({
    type: 'site.ready',
    transferHash: new Uint8Array(32),
    backend: 'wasm',
  });
  const frame = sender.seal(plaintext);
  return {
    ...vector,
    firstFrame: {
      direction: 'site to coordinator',
      streamHeader: toHex(sender.header),
      plaintext: toHex(plaintext),
      frame: toHex(frame),
    },
  };
}

export const VECTOR_KINDS: Readonly<Record<string, VectorKind>> = {
  handshake: {
    file: 'handshake-v1.json',
    build: handshakeVector,
    check(sodium, recorded) {
      assert.deepEqual(
        without(handshakeVector(sodium), 'firstFrame'),
        without(recorded, 'firstFrame'),
      );
      const frame = recorded.firstFrame as Record<string, string>;
      const key = recorded.siteToCoordinatorKey as string;
      const opened = openVectorFrame(sodium, key, frame.streamHeader!, frame.frame!);
      assert.equal(toHex(opened), frame.plaintext, 'the first frame opens to its plaintext');
      assert.throws(
        () =>
          openVectorFrame(
            sodium,
            recorded.coordinatorToSiteKey as string,
            frame.streamHeader!,
            frame.frame!,
          ),
        'the first frame opens under the other direction key',
      );
    },
  },
  'secagg-survivors': {
    file: 'secagg-survivors-v1.json',
    build: survivorSetVector,
    check(sodium, recorded) {
      const vector = survivorSetVector(sodium);
      assert.deepEqual(vector, recorded);
      const signed = bytes(vector.signedBytes);
      for (const { site, signature } of vector.signatures) {
        const key = bytes(
          vector.inputs.participants.find((p) => p.site === site)!.identityPublicKey,
        );
        assert.ok(sodium.crypto_sign_verify_detached(bytes(signature), signed, key));
        const other = Uint8Array.from(signed);
        other[other.length - 1]! ^= 1;
        assert.ok(!sodium.crypto_sign_verify_detached(bytes(signature), other, key));
      }
    },
  },
  'blob-manifest': {
    file: 'blob-manifest-v1.json',
    build: blobManifestVector,
    check: (sodium, recorded) => assert.deepEqual(blobManifestVector(sodium), recorded),
  },
  'tensor-blob': {
    file: 'tensor-blob-v1.json',
    build: tensorBlobVector,
    check(_sodium, recorded) {
      assert.deepEqual(tensorBlobVector(), recorded);
      for (const [encoding, hex] of Object.entries(recorded.blobs as Record<string, string>)) {
        const decoded = unwrap(decodeTensorBlob(bytes(hex)));
        assert.deepEqual(
          decoded.map((t) => [t.name, t.shape]),
          TENSOR_INPUT.map((t) => [t.name, t.shape]),
          encoding,
        );
        // The inputs are exact in float16: the two float encodings give them back unchanged.
        if (encoding === 'float32' || encoding === 'float16') {
          assert.deepEqual(
            decoded.map((t) => Array.from(t.values)),
            TENSOR_INPUT.map((t) => t.values),
            encoding,
          );
        }
      }
    },
  },
  messages: {
    file: 'messages-v1.json',
    build: messagesVector,
    check(sodium, recorded) {
      assert.deepEqual(messagesVector(sodium), recorded);
      for (const { type, encoded } of recorded.messages as { type: string; encoded: string }[]) {
        const message = SITE_MESSAGE_TYPES.includes(type)
          ? unwrap(decodeSiteMessage(bytes(encoded)))
          : unwrap(decodeCoordinatorMessage(bytes(encoded)));
        assert.equal(message.type, type);
        assert.equal(toHex(encodeMessage(message)), encoded, `${type} re-encodes to its bytes`);
      }
    },
  },
  'canonical-json': {
    file: 'canonical-json-v1.json',
    build: canonicalJsonVector,
    check(_sodium, recorded) {
      for (const c of recorded.cases as { input: string; canonical: string; utf8: string }[]) {
        assert.equal(unwrap(canonicalJson(JSON.parse(c.input))), c.canonical, c.input);
        assert.equal(Buffer.from(c.canonical, 'utf8').toString('hex'), c.utf8, c.input);
      }
      assert.deepEqual(canonicalJsonVector(), recorded);
    },
  },
  merkle: {
    file: 'merkle-v1.json',
    build: merkleVector,
    check(_sodium, recorded) {
      assert.deepEqual(merkleVector(), recorded);
      const vector = merkleVector();
      const root = (size: number) => bytes(vector.roots[size]!.root);
      for (const { index, size, proof } of vector.inclusion) {
        const claim = {
          index,
          size,
          leafHash: bytes(vector.leaves[index]!.leafHash),
          proof: proof.map(bytes),
          root: root(size),
        };
        unwrap(verifyInclusion(claim));
        assert.equal(verifyInclusion({ ...claim, root: root(size - 1) }).ok, false);
      }
      for (const { size1, size2, proof } of vector.consistency) {
        const claim = {
          size1,
          size2,
          root1: root(size1),
          root2: root(size2),
          proof: proof.map(bytes),
        };
        unwrap(verifyConsistency(claim));
        if (size1 > 1)
          assert.equal(verifyConsistency({ ...claim, root1: root(size1 - 1) }).ok, false);
      }
    },
  },
  'tree-head': {
    file: 'tree-head-v1.json',
    build: treeHeadVector,
    check(sodium, recorded) {
      const vector = treeHeadVector(sodium);
      assert.deepEqual(vector, recorded);
      unwrap(verifyTreeHead(sodium, bytes(vector.inputs.coordinatorPublicKey), vector.head));
    },
  },
  'secagg-derivations': {
    file: 'secagg-derivations-v1.json',
    build: secaggDerivationsVector,
    check(sodium, recorded) {
      const vector = secaggDerivationsVector(sodium);
      assert.deepEqual(without(vector, 'shareBox'), without(recorded, 'shareBox'));
      const box = recorded.shareBox as Record<string, string>;
      assert.equal(box.plaintext, vector.shareBox.plaintext);
      const [from, to] = vector.publicKeys;
      const opened = openShare(
        sodium,
        bytes(vector.contextHash),
        { site: from!.site, publicKey: bytes(from!.encryptionPublicKey) },
        {
          site: to!.site,
          publicKey: bytes(to!.encryptionPublicKey),
          secretKey: bytes(vector.inputs.sites[1].encryptionSecretKey),
        },
        bytes(box.sealed!),
      );
      assert.equal(toHex(unwrap(opened)), box.plaintext, 'the sealed share opens to its plaintext');
    },
  },
};
