import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request } from 'node:https';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoordinatorConnection } from '../../client/coordinator-connection.js';
import { runSite } from '../../client/site-client.js';
import {
  decodeKey,
  identityFileSchema,
  identityKeyPair,
  loadSodium,
  readJsonFile,
  unwrap,
} from '../../protocol/index.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

/** A self-signed certificate for 127.0.0.1 from the openssl binary (node:crypto makes no X.509). */
function selfSigned(dir: string): { certFile: string; keyFile: string } | undefined {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  try {
    execFileSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'],
        ...['-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1'],
        ...['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
      ],
      { stdio: 'ignore' },
    );
  } catch {
    return undefined;
  }
  return { certFile, keyFile };
}

/** One GET over https with the CA pinned: status and headers. */
function get(
  url: string,
  ca: string,
): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    request(url, { ca }, (response) => {
      response.resume();
      response.on('end', () =>
        resolve({ status: response.statusCode!, headers: response.headers }),
      );
    })
      .on('error', reject)
      .end();
  });
}

const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-tls-'));
const tls = selfSigned(dir);

/**
 * The coordinator with a certificate and key in its config: the API answers over HTTPS with
 * HSTS, a real site with the certificate pinned completes a run over wss, and a client that
 * trusts only the system's CAs is refused before any byte of the protocol.
 */
describe(
  'TLS at a live coordinator',
  { skip: tls ? false : 'no openssl binary to make a test certificate' },
  () => {
    let fixture: RunFixture;
    let ca: string;

    before(async () => {
      ca = await readFile(tls!.certFile, 'utf8');
      fixture = await startRunFixture({
        sites: 1,
        rounds: 1,
        adjust: (config) => ({ ...config, tls: tls! }),
      });
    });

    after(async () => {
      await fixture?.dispose();
      await rm(dir, { recursive: true, force: true });
    });

    it('serves https with HSTS; plain http on the same port gets no answer of the API', async () => {
      const { url } = fixture.coordinator;
      assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const answer = await get(`${url}/api/runs`, ca);
      assert.equal(answer.status, 401);
      assert.match(String(answer.headers['strict-transport-security']), /^max-age=\d{7,}/);
      assert.equal(answer.headers['cache-control'], 'no-store');
      const plain = await fetch(url.replace('https:', 'http:') + '/api/runs').then(
        (response) => response.status,
        () => 'refused',
      );
      assert.notEqual(plain, 401);
    });

    it('a client that does not trust the certificate cannot connect', async () => {
      const { keys } = fixture.workspace;
      const file = keys.siteIdentities['site-1']!;
      const opened = await CoordinatorConnection.open({
        sodium: await loadSodium(),
        url: fixture.coordinator.url,
        identity: identityKeyPair(unwrap(await readJsonFile(file, identityFileSchema))),
        pinnedCoordinatorKey: decodeKey(keys.coordinatorPublicKey),
      });
      assert.ok(!opened.ok);
      assert.equal(opened.error.code, 'session.closed');
    });

    it('a real site with the certificate pinned completes the run over wss', async () => {
      const config = await fixture.siteConfig('site-1');
      const [site, report] = await Promise.all([
        runSite({ ...config, coordinator: { ...config.coordinator, caFile: tls!.certFile } }),
        fixture.coordinator.finished,
      ]);
      assert.equal(site.roundsTrained, 1);
      assert.equal(report.per_round.length, 1);
    });
  },
);
