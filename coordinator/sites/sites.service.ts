import { Inject, Injectable } from '@nestjs/common';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';

/** The allow-list of enrolled sites: only these public keys may complete a handshake. */
@Injectable()
export class SitesService {
  private readonly byKey: Map<string, string>;

  constructor(@Inject(COORDINATOR_SETUP) setup: CoordinatorSetup) {
    this.byKey = new Map(setup.allowList.sites.map((s) => [s.publicKey, s.name]));
  }

  nameOf(publicKey: Uint8Array): string | undefined {
    return this.byKey.get(Buffer.from(publicKey).toString('base64'));
  }

  get enrolled(): number {
    return this.byKey.size;
  }
}
