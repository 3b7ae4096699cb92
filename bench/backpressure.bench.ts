import { fork } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Socket as NetSocket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareWorkspace } from '../cli/demo/workspace.js';
import type { CoordinatorIpcMessage } from '../cli/coordinator-ipc.js';
import { decodeKey, identityFileSchema, identityKeyPair, loadSodium } from '../protocol/index.js';
import { RawPeer } from '../harness/raw-peer.js';
import { recordResults, round } from './results.js';

/**
 * The coordinator's memory while a site reads slowly. A coordinator process serves a 67 MB
 * model (student 30-4096-4096-2, 4 MiB chunks) to a site that asks for all of it and then
 * stops reading for 3 s; its resident memory is sampled from /proc (Linux) throughout.
 * Figures only, never pass/fail.
 */
const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const PAUSE_MS = 3_000;

async function residentKiB(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const line = status?.split('\n').find((l) => l.startsWith(`${field}:`));
  return line ? Number(line.split(/\s+/)[1]) : undefined;
}

const mb = (kib: number | undefined): string =>
  kib === undefined ? 'n/a' : `${(kib / 1024).toFixed(0)} MB`;

const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-bench-'));
try {
  const workspace = await prepareWorkspace(dir, {
    sites: 1,
    rounds: 1,
    seed: 1,
    cacheDir: path.join(dir, 'cache'),
  });
  const config = JSON.parse(await readFile(workspace.coordinatorConfigFile, 'utf8')) as {
    run: Record<string, unknown>;
  };
  config.run = { ...config.run, studentHidden: [4096, 4096], blobChunkBytes: 4 * 1024 * 1024 };
  await writeFile(workspace.coordinatorConfigFile, JSON.stringify(config));
  const child = fork(MAIN, ['coordinator', '--config', workspace.coordinatorConfigFile], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  const url = await new Promise<string>((resolve) =>
    child.on('message', (m: CoordinatorIpcMessage) => m.type === 'listening' && resolve(m.url)),
  );
  const sodium = await loadSodium();
  const identity = identityFileSchema.parse(
    JSON.parse(await readFile(workspace.keys.siteIdentities['site-1']!, 'utf8')),
  );
  const peer = await RawPeer.connect(url, sodium);
  await peer.handshake(identityKeyPair(identity), decodeKey(workspace.keys.coordinatorPublicKey));
  const welcome = await peer.nextOf('run.welcome');
  const transfer = welcome.teacher.blob;
  peer.send({
    type: 'blob.request',
    hash: transfer.hash,
    from: 0,
    count: transfer.chunkHashes.length,
  });
  for (let i = 0; i < transfer.chunkHashes.length; i++) await peer.nextOf('blob.chunk');
  peer.send({ type: 'site.ready', transferHash: transfer.hash, backend: 'bench' });
  const { model } = await peer.nextOf('round.start');

  const pid = child.pid!;
  const before = await residentKiB(pid, 'VmRSS');
  const tcp = (
    peer.socket.io as unknown as { engine: { transport: { ws: { _socket: NetSocket } } } }
  ).engine.transport.ws._socket;
  tcp.pause();
  for (const from of [0, 8, 16]) {
    peer.send({
      type: 'blob.request',
      hash: model.hash,
      from,
      count: Math.min(8, model.chunkHashes.length - from),
    });
  }
  let peakWhilePaused = before ?? 0;
  const pausedUntil = Date.now() + PAUSE_MS;
  while (Date.now() < pausedUntil) {
    peakWhilePaused = Math.max(peakWhilePaused, (await residentKiB(pid, 'VmRSS')) ?? 0);
    await new Promise((r) => setTimeout(r, 25));
  }
  tcp.resume();
  const started = Date.now();
  for (let i = 0; i < model.chunkHashes.length; i++) await peer.nextOf('blob.chunk');
  const seconds = (Date.now() - started) / 1000;
  const lifetimePeak = await residentKiB(pid, 'VmHWM');

  console.log(
    `model blob: ${(model.bytes / 1e6).toFixed(1)} MB in ${model.chunkHashes.length} chunks, all requested, then ${PAUSE_MS} ms without reading`,
  );
  console.log(`coordinator resident memory before the requests: ${mb(before)}`);
  console.log(
    `coordinator peak while the site did not read:     ${mb(peakWhilePaused)} (+${mb(peakWhilePaused - (before ?? 0))})`,
  );
  console.log(`coordinator peak over its whole life (VmHWM):     ${mb(lifetimePeak)}`);
  console.log(
    `after reading resumed, the rest arrived in ${seconds.toFixed(2)} s (${(model.bytes / 1e6 / seconds).toFixed(0)} MB/s)`,
  );
  const kibToMB = (kib: number | undefined): number | string =>
    kib === undefined ? 'n/a' : round(kib / 1024);
  await recordResults('backpressure', {
    model_mb: round(model.bytes / 1e6, 1),
    model_chunks: model.chunkHashes.length,
    pause_ms: PAUSE_MS,
    coordinator_rss_before_mb: kibToMB(before),
    coordinator_rss_peak_paused_mb: kibToMB(peakWhilePaused),
    coordinator_rss_growth_paused_mb: kibToMB(peakWhilePaused - (before ?? 0)),
    coordinator_vmhwm_mb: kibToMB(lifetimePeak),
    resume_s: round(seconds, 2),
    resume_mb_per_s: round(model.bytes / 1e6 / seconds),
  });
  peer.close();
  child.kill('SIGTERM');
} finally {
  await rm(dir, { recursive: true, force: true });
}
