import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../store/private-files.js';

/**
 * The trained teacher on disk, in TensorFlow.js's own layers format (model.json plus
 * weights.bin), so any tfjs program can load it. One folder per cache key.
 */
export async function saveTeacher(model: tfl.LayersModel, dir: string): Promise<void> {
  const partial = `${dir}.${process.pid}.partial`;
  await mkdir(partial, { recursive: true, mode: PRIVATE_DIR_MODE });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = artifacts.weightData
        ? tf.io.CompositeArrayBuffer.join(artifacts.weightData)
        : new ArrayBuffer(0);
      const manifest = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      };
      const mode = PRIVATE_FILE_MODE;
      await writeFile(path.join(partial, 'model.json'), JSON.stringify(manifest), { mode });
      await writeFile(path.join(partial, 'weights.bin'), new Uint8Array(weights), { mode });
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  await rename(partial, dir);
}

/** Loads a cached teacher, or returns undefined when the folder is absent or unreadable. */
export async function loadTeacher(dir: string): Promise<tfl.LayersModel | undefined> {
  let json: string;
  let weights: Buffer;
  try {
    json = await readFile(path.join(dir, 'model.json'), 'utf8');
    weights = await readFile(path.join(dir, 'weights.bin'));
  } catch {
    return undefined;
  }
  const manifest = JSON.parse(json) as {
    modelTopology: object;
    weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[];
  };
  const weightData = weights.buffer.slice(
    weights.byteOffset,
    weights.byteOffset + weights.byteLength,
  );
  return tfl.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: manifest.modelTopology,
      weightSpecs: manifest.weightsManifest.flatMap((group) => group.weights),
      weightData,
    }),
  );
}
