import { performance } from 'node:perf_hooks';
import { FedAvg } from '../coordinator/aggregation/fedavg.js';
import {
  checkTensorsMatch,
  decodeTensorBlob,
  encodeTensorBlob,
  unwrap,
  type NamedTensor,
} from '../protocol/index.js';

/**
 * The coordinator's aggregation costs: fold-in throughput of float32 deltas in GB/s against a
 * memory-bandwidth reference in the same run (copying the same bytes), and the coordinator's
 * per-round work for 100 simulated sites x 1M parameters: decoding each update blob, checking
 * it, folding it, and closing the round. Client training is not included. Figures only.
 */
const PARAMETERS = 1_000_000;
const SITES = 100;
const GB = 1e9;

function tensors(seed: number): NamedTensor[] {
  const values = new Float32Array(PARAMETERS);
  let x = seed;
  for (let i = 0; i < values.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    values[i] = x / 2 ** 32 - 0.5;
  }
  return [{ name: 'w', shape: [PARAMETERS], values }];
}

const global = tensors(1);
const deltas = Array.from({ length: 8 }, (_, i) => tensors(i + 2));
const bytesPerUpdate = PARAMETERS * 4;

// Memory-bandwidth reference: copy the same bytes (read one buffer, write another).
const target = new Float32Array(PARAMETERS);
for (let r = 0; r < 5; r++) for (const d of deltas) target.set(d[0]!.values);
let start = performance.now();
for (let r = 0; r < 25; r++) for (const d of deltas) target.set(d[0]!.values);
const copyGBps = (25 * deltas.length * bytesPerUpdate) / ((performance.now() - start) / 1000) / GB;

// Fold-in: acc += n * delta, for each update (what FedAvg does as updates arrive).
const fedavg = new FedAvg();
let acc = fedavg.begin(global);
for (let r = 0; r < 5; r++)
  for (const d of deltas) acc = unwrap(fedavg.fold(acc, { site: 's', delta: d, numExamples: 3 }));
acc = fedavg.begin(global);
start = performance.now();
for (let r = 0; r < 25; r++)
  for (const d of deltas) acc = unwrap(fedavg.fold(acc, { site: 's', delta: d, numExamples: 3 }));
const foldGBps = (25 * deltas.length * bytesPerUpdate) / ((performance.now() - start) / 1000) / GB;

console.log(`fold-in of float32 deltas (acc += n * delta): ${foldGBps.toFixed(2)} GB/s`);
console.log(`memory reference (copying the same bytes):   ${copyGBps.toFixed(2)} GB/s`);
console.log(`fold / copy: ${(foldGBps / copyGBps).toFixed(2)}`);

// A round at the coordinator: 100 update blobs of 1M float32 parameters each.
const blobs = deltas.map((d) => unwrap(encodeTensorBlob(d, 'float32')));
const round = (): { decode: number; fold: number; close: number } => {
  const times = { decode: 0, fold: 0, close: 0 };
  let roundAcc = fedavg.begin(global);
  for (let s = 0; s < SITES; s++) {
    let t0 = performance.now();
    const delta = unwrap(decodeTensorBlob(blobs[s % blobs.length]!));
    unwrap(checkTensorsMatch(global, delta));
    times.decode += performance.now() - t0;
    t0 = performance.now();
    roundAcc = unwrap(fedavg.fold(roundAcc, { site: `s${s}`, delta, numExamples: 1 + (s % 7) }));
    times.fold += performance.now() - t0;
  }
  const t0 = performance.now();
  fedavg.close(roundAcc);
  times.close += performance.now() - t0;
  return times;
};
round();
const times = round();
const total = times.decode + times.fold + times.close;
console.log(
  `one round, ${SITES} sites x ${PARAMETERS / 1e6}M parameters (${((SITES * bytesPerUpdate) / 1e6).toFixed(0)} MB of updates): ` +
    `${total.toFixed(0)} ms (decode + checks ${times.decode.toFixed(0)} ms, fold ${times.fold.toFixed(0)} ms, close ${times.close.toFixed(0)} ms)`,
);
console.log(`peak memory: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
