import {
  CoordinatorHandshake,
  FrameReceiver,
  ok,
  SiteHandshake,
  toHex,
  unwrap,
  type Sodium,
} from '../../protocol/index.js';

/** Fixed inputs of the handshake vector: every byte of randomness comes from these seeds. */
export const VECTOR_SEEDS = {
  coordinatorIdentity: '01'.repeat(32),
  siteIdentity: '02'.repeat(32),
  coordinatorEphemeral: '03'.repeat(32),
  siteEphemeral: '04'.repeat(32),
} as const;

const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));

/** Runs the handshake on the fixed seeds and returns every value a vector records. */
export function runVectorHandshake(sodium: Sodium): Record<string, string> {
  const coordinator = sodium.crypto_sign_seed_keypair(bytes(VECTOR_SEEDS.coordinatorIdentity));
  const site = sodium.crypto_sign_seed_keypair(bytes(VECTOR_SEEDS.siteIdentity));
  const siteEphemeral = sodium.crypto_kx_seed_keypair(bytes(VECTOR_SEEDS.siteEphemeral));
  const coordinatorEphemeral = sodium.crypto_kx_seed_keypair(
    bytes(VECTOR_SEEDS.coordinatorEphemeral),
  );
  const initiator = new SiteHandshake(sodium, site, coordinator.publicKey, siteEphemeral);
  const responder = new CoordinatorHandshake(
    sodium,
    coordinator,
    () => ok('site-1'),
    coordinatorEphemeral,
  );
  const initiation = initiator.createInitiation();
  const response = unwrap(responder.consumeInitiation(initiation));
  const finished = unwrap(initiator.consumeResponse(response));
  const accepted = unwrap(responder.consumeFinish(finished.finish));
  if (toHex(accepted.keys.transcriptHash) !== toHex(finished.keys.transcriptHash)) {
    throw new Error('the two ends disagree on the transcript');
  }
  return {
    coordinatorPublicKey: toHex(coordinator.publicKey),
    sitePublicKey: toHex(site.publicKey),
    siteEphemeralPublicKey: toHex(siteEphemeral.publicKey),
    coordinatorEphemeralPublicKey: toHex(coordinatorEphemeral.publicKey),
    initiation: toHex(initiation),
    response: toHex(response),
    finish: toHex(finished.finish),
    transcriptHash: toHex(finished.keys.transcriptHash),
    siteToCoordinatorKey: toHex(finished.keys.sendKey),
    coordinatorToSiteKey: toHex(finished.keys.receiveKey),
  };
}

/** Opens a recorded first frame with the vector's site-to-coordinator key. */
export function openVectorFrame(
  sodium: Sodium,
  key: string,
  header: string,
  frame: string,
): Uint8Array {
  const receiver = unwrap(FrameReceiver.create(sodium, bytes(key), bytes(header)));
  return unwrap(receiver.open(bytes(frame))).message;
}
