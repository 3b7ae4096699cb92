import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  applyNormalizer,
  buildModel,
  checkTensorsMatch,
  decodeKey,
  decodeTensors,
  decodeTransferSet,
  encodeTensors,
  FedistillError,
  identityFileSchema,
  identityKeyPair,
  loadSodium,
  parseLabelledCsv,
  readJsonFile,
  readWeights,
  selectBackend,
  unwrap,
  weightLayout,
  writeWeights,
  type CoordinatorMessage,
  type ErrorCode,
  type RoundStart,
  type RunWelcome,
  type TransferSet,
} from '../protocol/index.js';
import { CoordinatorConnection } from './coordinator-connection.js';
import { trainLocally, type LocalData } from './local-trainer.js';
import type { SiteConfig } from './site-config.js';
import { TransferCache } from './transfer-cache.js';
import { TransferDownload } from './transfer-download.js';
import { weightDelta } from './update-builder.js';

export interface SiteRunSummary {
  readonly site: string;
  readonly runId: string;
  readonly roundsTrained: number;
  readonly backend: string;
  readonly transferFromCache: boolean;
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

export type SiteLog = (line: string) => void;

/** Everything the site holds for one run once the transfer set is in place. */
interface RunContext {
  readonly welcome: RunWelcome;
  readonly model: tfl.Sequential;
  readonly data: LocalData;
  readonly privateRows: number;
}

/**
 * Runs one site through one federated run: handshake, transfer-set sync, then one local
 * training per round until the coordinator says the run is complete. Private data is read
 * here and only the weight delta and the example count leave this function.
 */
export async function runSite(
  config: SiteConfig,
  log: SiteLog = () => {},
): Promise<SiteRunSummary> {
  const sodium = await loadSodium();
  const identityFile = unwrap(await readJsonFile(config.identityFile, identityFileSchema));
  const backend = unwrap(await selectBackend(config.backend));
  log(`site ${identityFile.name}: compute backend ${backend}`);
  const privateCsv = await readFile(config.privateData, 'utf8');
  const cache = new TransferCache(sodium, config.cacheDir);

  const connection = unwrap(
    await CoordinatorConnection.open({
      sodium,
      url: config.coordinator.url,
      identity: identityKeyPair(identityFile),
      pinnedCoordinatorKey: decodeKey(config.coordinator.publicKey),
    }),
  );
  log(`site ${identityFile.name}: session established with ${config.coordinator.url}`);

  const stop = (code: ErrorCode, message: string): never => {
    connection.refuse(code);
    throw new FedistillError({ code, message });
  };

  let context: RunContext | undefined;
  let download: TransferDownload | undefined;
  let welcome: RunWelcome | undefined;
  let transferFromCache = false;
  let roundsTrained = 0;

  const becomeReady = (set: TransferSet, runWelcome: RunWelcome): void => {
    context = prepareRun(runWelcome, set, privateCsv, stop);
    connection.send({ type: 'site.ready', transferHash: runWelcome.transfer.hash, backend });
    log(
      `site ${identityFile.name}: ready, ${context.privateRows} private rows, ${set.rows} transfer rows`,
    );
  };

  try {
    for (;;) {
      const next = await connection.next();
      if (!next.ok) throw new FedistillError(next.error);
      const message: CoordinatorMessage = next.value;
      switch (message.type) {
        case 'run.welcome': {
          if (welcome) stop('protocol.unexpected_message', 'a second welcome arrived');
          welcome = message;
          const cached = await cache.load(message.transfer);
          if (cached) {
            transferFromCache = true;
            becomeReady(cached, message);
          } else {
            download = new TransferDownload(sodium, message.transfer);
            connection.send({
              type: 'transfer.request',
              hash: message.transfer.hash,
              ...download.nextRequest()!,
            });
          }
          break;
        }
        case 'transfer.chunk': {
          if (!download || !welcome)
            return stop('protocol.unexpected_message', 'no transfer set was requested');
          const accepted = download.accept(message);
          if (!accepted.ok) return stop(accepted.error.code, accepted.error.message);
          if (download.complete) {
            const set = decodeTransferSet(sodium, download.bytes, download.manifest);
            if (!set.ok) return stop(set.error.code, set.error.message);
            await cache.store(download.manifest, download.bytes);
            download = undefined;
            becomeReady(set.value, welcome);
          } else if (download.windowDone(message.index)) {
            const window = download.nextRequest();
            if (window)
              connection.send({ type: 'transfer.request', hash: welcome.transfer.hash, ...window });
          }
          break;
        }
        case 'round.start': {
          if (!context || message.runId !== context.welcome.runId) {
            return stop('protocol.unexpected_message', 'a round started before the site was ready');
          }
          const update = trainRound(context, message, stop);
          connection.send(update);
          roundsTrained++;
          log(
            `site ${identityFile.name}: round ${message.round} trained (T=${message.temperature.toFixed(2)}, alpha=${message.alpha.toFixed(2)})`,
          );
          break;
        }
        case 'run.complete': {
          log(
            `site ${identityFile.name}: run ${message.runId} complete after ${message.rounds} rounds`,
          );
          connection.close();
          return {
            site: identityFile.name,
            runId: message.runId,
            roundsTrained,
            backend,
            transferFromCache,
            bytesSent: connection.bytesSent,
            bytesReceived: connection.bytesReceived,
          };
        }
        default: {
          const unreachable: never = message;
          return unreachable;
        }
      }
    }
  } finally {
    connection.close();
    if (context) {
      context.model.dispose();
      tf.dispose(Object.values(context.data));
    }
  }
}

type Stop = (code: ErrorCode, message: string) => never;

function prepareRun(
  welcome: RunWelcome,
  set: TransferSet,
  privateCsv: string,
  stop: Stop,
): RunContext {
  const { student, normalizer } = welcome;
  if (
    student.inputs !== set.features ||
    normalizer.mean.length !== set.features ||
    student.classes !== set.classes
  ) {
    stop('schema.invalid', 'the student spec, normalizer and transfer set disagree on their sizes');
  }
  const table = parseLabelledCsv(privateCsv, student.classes);
  if (!table.ok) return stop(table.error.code, `private data: ${table.error.message}`);
  if (table.value.features !== student.inputs) {
    stop(
      'data.invalid',
      `private data has ${table.value.features} features, the run expects ${student.inputs}`,
    );
  }
  const data: LocalData = {
    privateInputs: tf.tensor2d(applyNormalizer(table.value.inputs, normalizer), [
      table.value.rows,
      student.inputs,
    ]),
    privateLabels: tf.tidy(() =>
      tf.cast(tf.oneHot(tf.tensor1d(table.value.labels, 'int32'), student.classes), 'float32'),
    ) as tf.Tensor2D,
    transferInputs: tf.tensor2d(applyNormalizer(set.inputs, normalizer), [set.rows, set.features]),
    teacherLogits: tf.tensor2d(set.logits, [set.rows, set.classes]),
  };
  return { welcome, model: buildModel(student, 0), data, privateRows: table.value.rows };
}

function trainRound(context: RunContext, start: RoundStart, stop: Stop) {
  const global = decodeTensors(start.weights);
  const matches = checkTensorsMatch(weightLayout(context.welcome.student), global);
  if (!matches.ok) stop('schema.invalid', `global weights: ${matches.error.message}`);
  writeWeights(context.model, global);
  trainLocally(context.model, context.data, {
    temperature: start.temperature,
    alpha: start.alpha,
    epochs: start.localEpochs,
    batchSize: start.batchSize,
    learningRate: start.learningRate,
    seed: start.round,
  });
  const trained = readWeights(context.model, context.welcome.student);
  return {
    type: 'round.update' as const,
    runId: start.runId,
    round: start.round,
    baseVersion: start.modelVersion,
    numExamples: context.privateRows,
    delta: encodeTensors(weightDelta(trained, global)),
  };
}
