// Specification constants: changing any of these is a new protocol version.

/** The one protocol version; there is no negotiation, a peer on another version is refused. */
export const PROTOCOL_VERSION = 1;
/** The whole cipher suite, named once and hashed into the transcript (WireGuard's construction). */
export const SUITE = 'fedistill/1 SIGMA-I X25519 Ed25519 XChaCha20-Poly1305 BLAKE2b-256';
/** crypto_kdf context for handshake and stream keys (exactly 8 characters). */
export const KDF_CONTEXT = 'fdstl_v1';
export const SERVER_SIGNATURE_LABEL = 'fedistill/1 coordinator signs';
export const CLIENT_SIGNATURE_LABEL = 'fedistill/1 site signs';
export const SERVER_MAC_LABEL = 'fedistill/1 coordinator mac';
export const CLIENT_MAC_LABEL = 'fedistill/1 site mac';
/** What the coordinator's Ed25519 key signs over a tree head of the audit log (PROTOCOL.md 10.4). */
export const TREE_HEAD_SIGNATURE_LABEL = 'fedistill/1 audit tree head';

export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const HASH_BYTES = 32;
export const AEAD_TAG_BYTES = 16;
/** version (u16 BE) || site ephemeral X25519 key */
export const INITIATION_BYTES = 2 + PUBLIC_KEY_BYTES;
/** coordinator ephemeral key || AEAD(coordinator key || signature || mac) */
export const RESPONSE_BYTES =
  PUBLIC_KEY_BYTES + PUBLIC_KEY_BYTES + SIGNATURE_BYTES + HASH_BYTES + AEAD_TAG_BYTES;
/** AEAD(site key || signature || mac) */
export const FINISH_BYTES = PUBLIC_KEY_BYTES + SIGNATURE_BYTES + HASH_BYTES + AEAD_TAG_BYTES;
export const STREAM_HEADER_BYTES = 24;
/** Each frame starts with its sequence number (u64 LE), also bound as associated data. */
export const FRAME_SEQUENCE_BYTES = 8;
export const SECRETSTREAM_ABYTES = 17;

// Implementation limits: a peer may not exceed them, but they are not part of the wire format.

/** The largest frame either side accepts; larger payloads travel in chunks. */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;
/** socket.io drops larger messages silently, so it must sit above the largest frame. */
export const MAX_SOCKET_MESSAGE_BYTES = MAX_FRAME_BYTES + 64 * 1024;
/** A handshake that does not finish in this time is abandoned. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** A sender marks a frame TAG_REKEY once this much plaintext went out since the last rekey. */
export const REKEY_AFTER_BYTES = 64 * 1024 * 1024;
