import { Global, Module, type DynamicModule } from '@nestjs/common';
import { COORDINATOR_SETUP, type CoordinatorSetup } from './coordinator-setup.js';
import { EventsModule } from './events/events.module.js';
import { GatewayModule } from './gateway/gateway.module.js';
import { MetricsModule } from './metrics/metrics.module.js';

@Global()
@Module({})
export class AppModule {
  /** The checked setup becomes a global provider; feature modules only wire themselves. */
  static forSetup(setup: CoordinatorSetup): DynamicModule {
    return {
      module: AppModule,
      imports: [EventsModule, GatewayModule, MetricsModule],
      providers: [{ provide: COORDINATOR_SETUP, useValue: setup }],
      exports: [COORDINATOR_SETUP],
    };
  }
}
