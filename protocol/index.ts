// The contract shared by sites and the coordinator; both import it only through this file.
export * from './compute-backend.js';
export * from './constants.js';
export * from './content-hash.js';
export * from './errors.js';
export * from './handshake.js';
export * from './identity.js';
export * from './json-file.js';
export * from './message-codec.js';
export * from './messages.js';
export * from './schedules.js';
export * from './secure-channel.js';
export * from './sodium.js';
export * from './student-spec.js';
export * from './tabular-data.js';
export * from './tensor-codec.js';
export * from './transfer-set.js';
export * from './binary.js';
