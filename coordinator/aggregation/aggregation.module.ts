import { Module } from '@nestjs/common';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import { AGGREGATION_STRATEGY } from './strategy.js';
import { createStrategy } from './strategy-config.js';

@Module({
  providers: [
    {
      provide: AGGREGATION_STRATEGY,
      useFactory: (setup: CoordinatorSetup) => createStrategy(setup.config.run.aggregation),
      inject: [COORDINATOR_SETUP],
    },
  ],
  exports: [AGGREGATION_STRATEGY],
})
export class AggregationModule {}
