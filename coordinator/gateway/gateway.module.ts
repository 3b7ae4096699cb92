import { Module, type DynamicModule, type Type } from '@nestjs/common';
import { SitesModule } from '../sites/sites.module.js';
import { SiteGateway } from './site.gateway.js';

/** The sites' endpoint, handing sessions to the host `hostModule` exports (SiteSessionHost). */
@Module({})
export class GatewayModule {
  static forHost(hostModule: Type | DynamicModule): DynamicModule {
    return { module: GatewayModule, imports: [hostModule, SitesModule], providers: [SiteGateway] };
  }
}
