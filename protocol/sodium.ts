import sodiumModule from 'libsodium-wrappers';

export type Sodium = typeof sodiumModule;

/** libsodium's wasm must finish loading before any call; every user goes through here. */
export async function loadSodium(): Promise<Sodium> {
  await sodiumModule.ready;
  return sodiumModule;
}
