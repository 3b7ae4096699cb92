import { Global, Module, type DynamicModule } from '@nestjs/common';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import { EventsModule } from '../events/events.module.js';
import { GatewayModule } from '../gateway/gateway.module.js';
import { SiteSessionHost } from '../gateway/site-session-host.js';
import { LimitsModule } from '../limits/limits.module.js';
import { COORDINATOR_STORE, type CoordinatorStore } from '../store/store.js';
import type { EdgeRelay } from './edge-relay.js';
import { HealthController, NODE_ROLE } from './health.controller.js';

/** Hands the edge's sessions to its relay. */
@Module({})
class EdgeHostModule {
  static forRelay(relay: EdgeRelay): DynamicModule {
    return {
      module: EdgeHostModule,
      providers: [{ provide: SiteSessionHost, useValue: relay }],
      exports: [SiteSessionHost],
    };
  }
}

/**
 * An edge node: the sites' endpoint and its limits, with sessions relayed to the leader. It
 * conducts nothing and keeps no state of its own, so it holds no audit log, API or dashboard.
 */
@Global()
@Module({})
export class EdgeModule {
  static forSetup(
    setup: CoordinatorSetup,
    store: CoordinatorStore,
    relay: EdgeRelay,
  ): DynamicModule {
    return {
      module: EdgeModule,
      imports: [EventsModule, LimitsModule, GatewayModule.forHost(EdgeHostModule.forRelay(relay))],
      controllers: [HealthController],
      providers: [
        { provide: NODE_ROLE, useValue: 'edge' },
        { provide: COORDINATOR_SETUP, useValue: setup },
        { provide: COORDINATOR_STORE, useValue: store },
      ],
      exports: [COORDINATOR_SETUP, COORDINATOR_STORE],
    };
  }
}
