import {
  CLIENT_MAC_LABEL,
  CLIENT_SIGNATURE_LABEL,
  FINISH_BYTES,
  HASH_BYTES,
  INITIATION_BYTES,
  KDF_CONTEXT,
  PROTOCOL_VERSION,
  PUBLIC_KEY_BYTES,
  RESPONSE_BYTES,
  SERVER_MAC_LABEL,
  SERVER_SIGNATURE_LABEL,
  SIGNATURE_BYTES,
  SUITE,
} from './constants.js';
import { fail, ok, type Result } from './errors.js';
import type { Sodium } from './sodium.js';

/**
 * SIGMA-I key exchange (Krawczyk 2003) in libsodium calls, three messages:
 *
 *   site -> coordinator   initiation: version, eC
 *   coordinator -> site   response:   eS, AEAD_ks(S, sig_S(h1), mac_S(S, h1))
 *   site -> coordinator   finish:     AEAD_kc(C, sig_C(h2), mac_C(C, h2))
 *
 * Ephemeral X25519 keys give forward secrecy; Ed25519 signatures over the running transcript
 * hash authenticate both ends (and resist key-compromise impersonation); the MACs bind each
 * identity to the DH secret, which stops identity misbinding. The suite name and version are
 * hashed into the transcript, so a peer that changed either derives different keys. Stream keys
 * come from the final transcript hash, so they depend on every byte of the exchange.
 */

export interface IdentityKeyPair {
  /** Ed25519 public key, 32 bytes. */
  readonly publicKey: Uint8Array;
  /** Ed25519 secret key, 64 bytes (libsodium layout). */
  readonly privateKey: Uint8Array;
}

export interface EphemeralKeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
}

export interface SessionKeys {
  readonly sendKey: Uint8Array;
  readonly receiveKey: Uint8Array;
  /** BLAKE2b-256 of the whole handshake: the session's identifier for logs and audit. */
  readonly transcriptHash: Uint8Array;
}

export enum HandshakeState {
  Zeroed = 'zeroed',
  InitiationCreated = 'initiation-created',
  InitiationConsumed = 'initiation-consumed',
  FinishCreated = 'finish-created',
  Established = 'established',
  Failed = 'failed',
}

interface TranscriptKeys {
  readonly prk: Uint8Array;
  readonly serverEncKey: Uint8Array;
  readonly serverMacKey: Uint8Array;
  readonly clientEncKey: Uint8Array;
  readonly clientMacKey: Uint8Array;
}

const KEY_ID = { serverEnc: 1, serverMac: 2, clientEnc: 3, clientMac: 4, c2s: 5, s2c: 6 } as const;
/** Each handshake encryption key encrypts exactly one message, so a fixed nonce is safe. */
const ZERO_NONCE = new Uint8Array(24);

function concat(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const encoder = new TextEncoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);

function hash(sodium: Sodium, ...parts: readonly Uint8Array[]): Uint8Array {
  return sodium.crypto_generichash(HASH_BYTES, concat(...parts), null);
}

function deriveTranscriptKeys(sodium: Sodium, dh: Uint8Array, h1: Uint8Array): TranscriptKeys {
  const prk = sodium.crypto_generichash(HASH_BYTES, h1, dh);
  const sub = (id: number): Uint8Array =>
    sodium.crypto_kdf_derive_from_key(32, id, KDF_CONTEXT, prk);
  return {
    prk,
    serverEncKey: sub(KEY_ID.serverEnc),
    serverMacKey: sub(KEY_ID.serverMac),
    clientEncKey: sub(KEY_ID.clientEnc),
    clientMacKey: sub(KEY_ID.clientMac),
  };
}

function deriveStreamKeys(
  sodium: Sodium,
  prk: Uint8Array,
  h3: Uint8Array,
): { c2s: Uint8Array; s2c: Uint8Array } {
  const master = sodium.crypto_generichash(HASH_BYTES, h3, prk);
  const keys = {
    c2s: sodium.crypto_kdf_derive_from_key(32, KEY_ID.c2s, KDF_CONTEXT, master),
    s2c: sodium.crypto_kdf_derive_from_key(32, KEY_ID.s2c, KDF_CONTEXT, master),
  };
  sodium.memzero(master);
  return keys;
}

function zeroKeys(sodium: Sodium, keys: TranscriptKeys): void {
  for (const key of Object.values(keys)) sodium.memzero(key);
}

function dhOrFail(sodium: Sodium, secret: Uint8Array, peer: Uint8Array): Result<Uint8Array> {
  try {
    return ok(sodium.crypto_scalarmult(secret, peer));
  } catch {
    // libsodium refuses low-order points, whose shared secret would be all zeros.
    return fail('handshake.bad_ephemeral', 'the peer ephemeral key is a low-order point');
  }
}

function openOrFail(
  sodium: Sodium,
  ciphertext: Uint8Array,
  ad: Uint8Array,
  key: Uint8Array,
): Result<Uint8Array> {
  try {
    return ok(
      sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, ad, ZERO_NONCE, key),
    );
  } catch {
    return fail('handshake.decrypt_failed', 'the handshake message does not authenticate');
  }
}

function exactLength(message: unknown, expected: number, name: string): Result<Uint8Array> {
  if (!(message instanceof Uint8Array)) {
    return fail('handshake.malformed', `${name} must be binary`);
  }
  if (message.length !== expected) {
    return fail(
      'handshake.malformed',
      `${name} must be exactly ${expected} bytes, got ${message.length}`,
    );
  }
  return ok(message);
}

/** Splits an authenticated identity block: public key, signature, mac. */
function splitIdentity(plain: Uint8Array): {
  publicKey: Uint8Array;
  signature: Uint8Array;
  mac: Uint8Array;
} {
  return {
    publicKey: plain.subarray(0, PUBLIC_KEY_BYTES),
    signature: plain.subarray(PUBLIC_KEY_BYTES, PUBLIC_KEY_BYTES + SIGNATURE_BYTES),
    mac: plain.subarray(PUBLIC_KEY_BYTES + SIGNATURE_BYTES),
  };
}

function verifyIdentity(
  sodium: Sodium,
  id: { publicKey: Uint8Array; signature: Uint8Array; mac: Uint8Array },
  transcript: Uint8Array,
  labels: { signature: string; mac: string },
  macKey: Uint8Array,
): Result<true> {
  const signed = concat(bytes(labels.signature), transcript);
  if (!sodium.crypto_sign_verify_detached(id.signature, signed, id.publicKey)) {
    return fail('handshake.bad_signature', 'the identity signature over the transcript is invalid');
  }
  const expectedMac = sodium.crypto_generichash(
    HASH_BYTES,
    concat(bytes(labels.mac), id.publicKey, transcript),
    macKey,
  );
  if (!sodium.memcmp(expectedMac, id.mac)) {
    return fail('handshake.bad_mac', 'the identity MAC does not match the session keys');
  }
  return ok(true);
}

function sealIdentity(
  sodium: Sodium,
  identity: IdentityKeyPair,
  transcript: Uint8Array,
  labels: { signature: string; mac: string },
  keys: { enc: Uint8Array; mac: Uint8Array },
): Uint8Array {
  const signature = sodium.crypto_sign_detached(
    concat(bytes(labels.signature), transcript),
    identity.privateKey,
  );
  const mac = sodium.crypto_generichash(
    HASH_BYTES,
    concat(bytes(labels.mac), identity.publicKey, transcript),
    keys.mac,
  );
  return sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
    concat(identity.publicKey, signature, mac),
    transcript,
    null,
    ZERO_NONCE,
    keys.enc,
  );
}

function initialTranscript(sodium: Sodium, initiation: Uint8Array): Uint8Array {
  return hash(sodium, bytes(SUITE), initiation);
}

/** The site's side: it starts the exchange and checks the coordinator against its pinned key. */
export class SiteHandshake {
  private state = HandshakeState.Zeroed;
  private ephemeral: EphemeralKeyPair | undefined;
  private h0: Uint8Array | undefined;

  constructor(
    private readonly sodium: Sodium,
    private readonly identity: IdentityKeyPair,
    private readonly pinnedCoordinatorKey: Uint8Array,
    /** Only for reproducible test vectors; a real session draws a fresh key. */
    private readonly fixedEphemeral?: EphemeralKeyPair,
  ) {}

  get currentState(): HandshakeState {
    return this.state;
  }

  createInitiation(): Uint8Array {
    if (this.state !== HandshakeState.Zeroed) {
      throw new Error(`createInitiation in state ${this.state}`);
    }
    const ephemeral = this.fixedEphemeral ?? this.sodium.crypto_kx_keypair();
    const initiation = new Uint8Array(INITIATION_BYTES);
    new DataView(initiation.buffer).setUint16(0, PROTOCOL_VERSION, false);
    initiation.set(ephemeral.publicKey, 2);
    this.ephemeral = ephemeral;
    this.h0 = initialTranscript(this.sodium, initiation);
    this.state = HandshakeState.InitiationCreated;
    return initiation;
  }

  /** Checks the coordinator's response and returns the finish message and the stream keys. */
  consumeResponse(
    message: unknown,
  ): Result<{ finish: Uint8Array; keys: SessionKeys; coordinatorKey: Uint8Array }> {
    const result = this.consumeResponseInner(message);
    if (!result.ok) this.abort();
    return result;
  }

  private consumeResponseInner(
    message: unknown,
  ): Result<{ finish: Uint8Array; keys: SessionKeys; coordinatorKey: Uint8Array }> {
    const { sodium } = this;
    if (this.state !== HandshakeState.InitiationCreated || !this.ephemeral || !this.h0) {
      return fail('handshake.unexpected_step', `a response is not expected in state ${this.state}`);
    }
    const framed = exactLength(message, RESPONSE_BYTES, 'the response');
    if (!framed.ok) return framed;
    const serverEphemeral = framed.value.subarray(0, PUBLIC_KEY_BYTES);
    const sealed = framed.value.subarray(PUBLIC_KEY_BYTES);

    const dh = dhOrFail(sodium, this.ephemeral.privateKey, serverEphemeral);
    if (!dh.ok) return dh;
    const h1 = hash(sodium, this.h0, serverEphemeral);
    const keys = deriveTranscriptKeys(sodium, dh.value, h1);
    sodium.memzero(dh.value);

    const plain = openOrFail(sodium, sealed, h1, keys.serverEncKey);
    if (!plain.ok) {
      zeroKeys(sodium, keys);
      return plain;
    }
    const server = splitIdentity(plain.value);
    if (!sodium.memcmp(server.publicKey, this.pinnedCoordinatorKey)) {
      zeroKeys(sodium, keys);
      return fail(
        'handshake.bad_server_identity',
        'the coordinator presented a key other than the pinned one',
      );
    }
    const verified = verifyIdentity(
      sodium,
      server,
      h1,
      { signature: SERVER_SIGNATURE_LABEL, mac: SERVER_MAC_LABEL },
      keys.serverMacKey,
    );
    if (!verified.ok) {
      zeroKeys(sodium, keys);
      return verified;
    }

    const h2 = hash(sodium, h1, sealed);
    const finish = sealIdentity(
      sodium,
      this.identity,
      h2,
      { signature: CLIENT_SIGNATURE_LABEL, mac: CLIENT_MAC_LABEL },
      { enc: keys.clientEncKey, mac: keys.clientMacKey },
    );
    const h3 = hash(sodium, h2, finish);
    const stream = deriveStreamKeys(sodium, keys.prk, h3);
    zeroKeys(sodium, keys);
    this.forgetEphemeral();
    this.state = HandshakeState.Established;
    return ok({
      finish,
      keys: { sendKey: stream.c2s, receiveKey: stream.s2c, transcriptHash: h3 },
      coordinatorKey: Uint8Array.from(server.publicKey),
    });
  }

  private forgetEphemeral(): void {
    if (this.ephemeral && !this.fixedEphemeral) this.sodium.memzero(this.ephemeral.privateKey);
    this.ephemeral = undefined;
  }

  private abort(): void {
    this.forgetEphemeral();
    this.state = HandshakeState.Failed;
  }
}

/** The coordinator's side: it answers an initiation and admits only allow-listed site keys. */
export class CoordinatorHandshake {
  private state = HandshakeState.Zeroed;
  private pending:
    | { ephemeral: EphemeralKeyPair; keys: TranscriptKeys; h1: Uint8Array; response: Uint8Array }
    | undefined;

  constructor(
    private readonly sodium: Sodium,
    private readonly identity: IdentityKeyPair,
    /** The enrolled site's name for a public key, or why the key is refused (unknown, revoked). */
    private readonly admitSite: (publicKey: Uint8Array) => Result<string>,
    private readonly fixedEphemeral?: EphemeralKeyPair,
  ) {}

  get currentState(): HandshakeState {
    return this.state;
  }

  consumeInitiation(message: unknown): Result<Uint8Array> {
    const result = this.consumeInitiationInner(message);
    if (!result.ok) this.abort();
    return result;
  }

  private consumeInitiationInner(message: unknown): Result<Uint8Array> {
    const { sodium } = this;
    if (this.state !== HandshakeState.Zeroed) {
      return fail(
        'handshake.unexpected_step',
        `an initiation is not expected in state ${this.state}`,
      );
    }
    const framed = exactLength(message, INITIATION_BYTES, 'the initiation');
    if (!framed.ok) return framed;
    const initiation = framed.value;
    const version = new DataView(
      initiation.buffer,
      initiation.byteOffset,
      initiation.byteLength,
    ).getUint16(0, false);
    if (version !== PROTOCOL_VERSION) {
      return fail(
        'handshake.version_mismatch',
        `the site speaks protocol version ${version}; this coordinator speaks only ${PROTOCOL_VERSION}`,
      );
    }
    const siteEphemeral = initiation.subarray(2);
    const ephemeral = this.fixedEphemeral ?? sodium.crypto_kx_keypair();
    const dh = dhOrFail(sodium, ephemeral.privateKey, siteEphemeral);
    if (!dh.ok) return dh;

    const h0 = initialTranscript(sodium, initiation);
    const h1 = hash(sodium, h0, ephemeral.publicKey);
    const keys = deriveTranscriptKeys(sodium, dh.value, h1);
    sodium.memzero(dh.value);
    const sealed = sealIdentity(
      sodium,
      this.identity,
      h1,
      { signature: SERVER_SIGNATURE_LABEL, mac: SERVER_MAC_LABEL },
      { enc: keys.serverEncKey, mac: keys.serverMacKey },
    );
    const response = concat(ephemeral.publicKey, sealed);
    this.pending = { ephemeral, keys, h1, response };
    this.state = HandshakeState.InitiationConsumed;
    return ok(response);
  }

  /** Checks the site's finish message; on success the site is authenticated and enrolled. */
  consumeFinish(
    message: unknown,
  ): Result<{ siteName: string; siteKey: Uint8Array; keys: SessionKeys }> {
    const result = this.consumeFinishInner(message);
    if (!result.ok) this.abort();
    return result;
  }

  private consumeFinishInner(
    message: unknown,
  ): Result<{ siteName: string; siteKey: Uint8Array; keys: SessionKeys }> {
    const { sodium } = this;
    const pending = this.pending;
    if (this.state !== HandshakeState.InitiationConsumed || !pending) {
      return fail('handshake.unexpected_step', `a finish is not expected in state ${this.state}`);
    }
    const framed = exactLength(message, FINISH_BYTES, 'the finish');
    if (!framed.ok) return framed;
    const h2 = hash(sodium, pending.h1, pending.response.subarray(PUBLIC_KEY_BYTES));
    const plain = openOrFail(sodium, framed.value, h2, pending.keys.clientEncKey);
    if (!plain.ok) return plain;
    const site = splitIdentity(plain.value);
    // Possession of the key is proved first, so a refusal by the allow-list speaks of a key
    // whose holder really is at the other end.
    const verified = verifyIdentity(
      sodium,
      site,
      h2,
      { signature: CLIENT_SIGNATURE_LABEL, mac: CLIENT_MAC_LABEL },
      pending.keys.clientMacKey,
    );
    if (!verified.ok) return verified;
    const admitted = this.admitSite(site.publicKey);
    if (!admitted.ok) return admitted;
    const siteName = admitted.value;

    const h3 = hash(sodium, h2, framed.value);
    const stream = deriveStreamKeys(sodium, pending.keys.prk, h3);
    this.forget();
    this.state = HandshakeState.Established;
    return ok({
      siteName,
      siteKey: Uint8Array.from(site.publicKey),
      keys: { sendKey: stream.s2c, receiveKey: stream.c2s, transcriptHash: h3 },
    });
  }

  private forget(): void {
    if (!this.pending) return;
    zeroKeys(this.sodium, this.pending.keys);
    if (!this.fixedEphemeral) this.sodium.memzero(this.pending.ephemeral.privateKey);
    this.pending = undefined;
  }

  private abort(): void {
    this.forget();
    this.state = HandshakeState.Failed;
  }
}
