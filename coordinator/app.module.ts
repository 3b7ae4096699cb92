import { Global, Module, type DynamicModule } from '@nestjs/common';
import { ApiModule } from './api/api.module.js';
import { AuditModule } from './audit/audit.module.js';
import { COORDINATOR_SETUP, type CoordinatorSetup } from './coordinator-setup.js';
import { DashboardModule } from './dashboard/dashboard.module.js';
import { EventsModule } from './events/events.module.js';
import { GatewayModule } from './gateway/gateway.module.js';
import { RunsModule } from './runs/runs.module.js';
import { LimitsModule } from './limits/limits.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { HealthController, NODE_ROLE } from './nodes/health.controller.js';
import { COORDINATOR_STORE, type CoordinatorStore } from './store/store.js';

@Global()
@Module({})
export class AppModule {
  /** The checked setup and the open store become global providers. */
  static forSetup(setup: CoordinatorSetup, store: CoordinatorStore): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ApiModule,
        AuditModule,
        DashboardModule,
        EventsModule,
        GatewayModule.forHost(RunsModule),
        LimitsModule,
        MetricsModule,
      ],
      controllers: [HealthController],
      providers: [
        { provide: NODE_ROLE, useValue: 'leader' },
        { provide: COORDINATOR_SETUP, useValue: setup },
        { provide: COORDINATOR_STORE, useValue: store },
      ],
      exports: [COORDINATOR_SETUP, COORDINATOR_STORE],
    };
  }
}
