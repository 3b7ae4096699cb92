import { Module } from '@nestjs/common';
import { RunsModule } from '../runs/runs.module.js';
import { SitesModule } from '../sites/sites.module.js';
import { SiteGateway } from './site.gateway.js';

@Module({ imports: [RunsModule, SitesModule], providers: [SiteGateway] })
export class GatewayModule {}
