// SecAgg+ secure aggregation (Bonawitz et al. 2017; Bell et al. 2020): the pure layer.
export * from './consistency.js';
export * from './graph.js';
export * from './mask-prg.js';
export * from './quantize.js';
export * from './recover.js';
export * from './round-context.js';
export * from './round-keys.js';
export * from './round-spec.js';
export * from './server.js';
export * from './shamir.js';
export * from './share-box.js';
export * from './site.js';
export * from './wire.js';
