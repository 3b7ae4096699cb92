import { Module } from '@nestjs/common';
import { FedAvg } from './fedavg.js';
import { AGGREGATION_STRATEGY } from './strategy.js';

@Module({
  providers: [{ provide: AGGREGATION_STRATEGY, useClass: FedAvg }],
  exports: [AGGREGATION_STRATEGY],
})
export class AggregationModule {}
