import { performance } from 'node:perf_hooks';
import { FedAvg } from '../coordinator/aggregation/fedavg.js';
import {
  decodeTensorBlob,
  encodeTensorBlob,
  parameterCount,
  unwrap,
  weightLayout,
  type NamedTensor,
  type StudentSpec,
} from '../protocol/index.js';
import { recordResults, round as roundTo } from './results.js';

/**
 * The coordinator's aggregation costs, figures only. Fold-in throughput of float32 deltas in
 * GB/s (FedAvg's fold, the kernel of the whole mean family), beside two references measured in
 * the same run: copying the same bytes (memory bandwidth) and a scalar JS loop
 * `acc[i] += w * d[i]`. Then the coordinator's per-round work for 100 simulated sites, done as
 * RunsService does it: start the round, decode each update blob, fold it, close the round.
 * Client training is not included. The model is a coordinator MLP student of about 1M
 * parameters, so names, tensor count and the alignment of float32 data in blobs are real.
 */
const SPEC: StudentSpec = { kind: 'mlp', inputs: 784, hidden: [1024, 192], classes: 10 };
const PARAMETERS = parameterCount(SPEC);
const SITES = 100;
const GB = 1e9;

function tensors(seed: number): NamedTensor[] {
  let x = seed;
  return weightLayout(SPEC).map(({ name, shape }) => {
    const values = new Float32Array(shape.reduce((n, d) => n * d, 1));
    for (let i = 0; i < values.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      values[i] = x / 2 ** 32 - 0.5;
    }
    return { name, shape, values };
  });
}

const global = tensors(1);
const deltas = Array.from({ length: 8 }, (_, i) => tensors(i + 2));
const bytesPerUpdate = PARAMETERS * 4;

/** GB/s of float32 deltas that `each` gets through, after a warm-up. */
function throughput(each: (delta: readonly NamedTensor[]) => void): number {
  for (let r = 0; r < 5; r++) deltas.forEach(each);
  const start = performance.now();
  for (let r = 0; r < 25; r++) deltas.forEach(each);
  return (25 * deltas.length * bytesPerUpdate) / ((performance.now() - start) / 1000) / GB;
}

// Memory-bandwidth reference: copy the same bytes (read one buffer, write another).
const target = global.map((t) => new Float32Array(t.values.length));
const copyGBps = throughput((d) => d.forEach((t, i) => target[i]!.set(t.values)));

// Scalar reference: the plain JS loop, with no finite check.
const scalarGBps = throughput((d) =>
  d.forEach((t, i) => {
    const acc = target[i]!;
    const delta = t.values;
    for (let j = 0; j < acc.length; j++) acc[j]! += 3 * delta[j]!;
  }),
);

// Fold-in: what FedAvg does as each update arrives.
const fedavg = new FedAvg();
let acc = fedavg.begin(global);
const foldGBps = throughput((delta) => {
  acc = unwrap(fedavg.fold(acc, { site: 's', delta, numExamples: 3 }));
});

console.log(`fold-in of float32 deltas (acc += n * delta): ${foldGBps.toFixed(2)} GB/s`);
console.log(`memory reference (copying the same bytes):   ${copyGBps.toFixed(2)} GB/s`);
console.log(`scalar JS reference (acc[i] += w * d[i]):     ${scalarGBps.toFixed(2)} GB/s`);
console.log(
  `fold / copy: ${(foldGBps / copyGBps).toFixed(2)}; fold / scalar JS: ${(foldGBps / scalarGBps).toFixed(2)}`,
);

// A round at the coordinator: 100 update blobs, decoded and folded as RunsService does.
const blobs = deltas.map((d) => unwrap(encodeTensorBlob(d, 'float32')));
const inPlace = unwrap(decodeTensorBlob(blobs[0]!)).filter(
  (t) => t.values.buffer === blobs[0]!.buffer,
);
const round = (strategy: FedAvg): Record<'start' | 'decode' | 'fold' | 'close', number> => {
  const times = { start: 0, decode: 0, fold: 0, close: 0 };
  let t0 = performance.now();
  let roundAcc = strategy.begin(global);
  times.start += performance.now() - t0;
  for (let s = 0; s < SITES; s++) {
    t0 = performance.now();
    const delta = unwrap(decodeTensorBlob(blobs[s % blobs.length]!, { finiteCheck: 'caller' }));
    times.decode += performance.now() - t0;
    t0 = performance.now();
    roundAcc = unwrap(strategy.fold(roundAcc, { site: `s${s}`, delta, numExamples: 1 + (s % 7) }));
    times.fold += performance.now() - t0;
  }
  t0 = performance.now();
  strategy.close(roundAcc);
  times.close += performance.now() - t0;
  return times;
};
const run = new FedAvg();
const sum = (times: Record<string, number>): number =>
  Object.values(times).reduce((a, b) => a + b, 0);
const first = round(run);
const times = round(run);
console.log(
  `one round, ${SITES} sites x ${PARAMETERS} parameters in ${global.length} tensors ` +
    `(${((SITES * bytesPerUpdate) / 1e6).toFixed(0)} MB of updates): ${sum(times).toFixed(0)} ms ` +
    `(start ${times.start.toFixed(0)} ms, decode ${times.decode.toFixed(0)} ms, ` +
    `fold ${times.fold.toFixed(0)} ms, close ${times.close.toFixed(0)} ms); ` +
    `the run's first round ${sum(first).toFixed(0)} ms (start ${first.start.toFixed(0)} ms)`,
);
console.log(
  `float32 data decoded in place (4-byte aligned in the blob): ${inPlace.length} of ${global.length} tensors`,
);
const peakMB = process.resourceUsage().maxRSS / 1024;
console.log(`peak memory: ${peakMB.toFixed(0)} MB`);
await recordResults('aggregation', {
  fold_gb_per_s: roundTo(foldGBps, 2),
  copy_gb_per_s: roundTo(copyGBps, 2),
  scalar_js_gb_per_s: roundTo(scalarGBps, 2),
  fold_vs_copy: roundTo(foldGBps / copyGBps, 2),
  fold_vs_scalar_js: roundTo(foldGBps / scalarGBps, 2),
  round_sites: SITES,
  round_parameters: PARAMETERS,
  round_ms: roundTo(sum(times)),
  round_start_ms: roundTo(times.start),
  round_decode_ms: roundTo(times.decode),
  round_fold_ms: roundTo(times.fold),
  round_close_ms: roundTo(times.close),
  first_round_ms: roundTo(sum(first)),
  first_round_start_ms: roundTo(first.start),
  tensors_decoded_in_place: inPlace.length,
  tensors: global.length,
  peak_memory_mb: roundTo(peakMB),
});
