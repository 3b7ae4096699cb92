import { Module } from '@nestjs/common';
import { AggregationModule } from '../aggregation/aggregation.module.js';
import { EvaluationModule } from '../evaluation/evaluation.module.js';
import { TeacherModule } from '../teacher/teacher.module.js';
import { TransferModule } from '../transfer/transfer.module.js';
import { RunsService } from './runs.service.js';

@Module({
  imports: [AggregationModule, EvaluationModule, TeacherModule, TransferModule],
  providers: [RunsService],
  exports: [RunsService],
})
export class RunsModule {}
