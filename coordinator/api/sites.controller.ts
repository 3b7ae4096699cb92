import { Body, Controller, Get, HttpCode, Inject, Param, Post, UseGuards } from '@nestjs/common';
import { keyFingerprint, parseWith } from '../../protocol/index.js';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import { RunsService } from '../runs/runs.service.js';
import { SitesService } from '../sites/sites.service.js';
import { COORDINATOR_STORE, type CoordinatorStore } from '../store/store.js';
import { orHttpError } from './api-errors.js';
import { enrolSiteSchema, type SiteStatus } from './api-schemas.js';
import { OperatorOnly } from './roles.decorator.js';
import { TokenGuard } from './token.guard.js';

/** The site registry: every site ever enrolled, its state and whether it is connected now. */
@Controller('api/sites')
@UseGuards(TokenGuard)
export class SitesController {
  constructor(
    @Inject(COORDINATOR_SETUP) private readonly setup: CoordinatorSetup,
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    private readonly sites: SitesService,
    private readonly runs: RunsService,
  ) {}

  @Get()
  async list(): Promise<SiteStatus[]> {
    const connected = this.runs.connectedSites();
    return (await this.store.sites.list()).map((site) => {
      const session = connected.get(site.name);
      return {
        name: site.name,
        state: site.state,
        fingerprint: keyFingerprint(this.setup.sodium, site.publicKey),
        connected: session !== undefined,
        ...(session?.runId ? { runId: session.runId } : {}),
        ...(site.lastConnectedAt ? { lastConnectedAt: site.lastConnectedAt } : {}),
      };
    });
  }

  /** Enrols a site's public key (the body of its NAME.pub: name and publicKey). */
  @Post()
  @OperatorOnly()
  async enrol(@Body() body: unknown): Promise<SiteStatus[]> {
    const site = orHttpError(parseWith(enrolSiteSchema, body, 'schema.invalid', 'site'));
    orHttpError(await this.sites.enrol({ name: site.name, publicKey: site.publicKey }));
    return this.list();
  }

  /** Revokes a site: its key is refused from now on and its live session is closed. */
  @Post(':name/revoke')
  @HttpCode(200)
  @OperatorOnly()
  async revoke(@Param('name') name: string): Promise<SiteStatus[]> {
    orHttpError(await this.sites.revoke(name));
    return this.list();
  }
}
