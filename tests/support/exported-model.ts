import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tfjs from '@tensorflow/tfjs';

/**
 * Loads an exported student (model.json and its shards in `dir`) with stock TensorFlow.js,
 * `tf.loadLayersModel` and nothing of ours, as a user of the model would.
 */
export async function loadExportedModel(dir: string): Promise<tfjs.LayersModel> {
  const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8'));
  const manifest = json.weightsManifest[0];
  const shards = await Promise.all(
    manifest.paths.map((file: string) => readFile(path.join(dir, file))),
  );
  return tfjs.loadLayersModel(
    tfjs.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: manifest.weights,
      weightData: new Uint8Array(Buffer.concat(shards)).buffer,
    }),
  );
}
