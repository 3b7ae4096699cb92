import { Module } from '@nestjs/common';
import { EvaluationModule } from '../evaluation/evaluation.module.js';
import { TransferModule } from '../transfer/transfer.module.js';
import { TeacherService } from './teacher.service.js';

@Module({
  imports: [EvaluationModule, TransferModule],
  providers: [TeacherService],
  exports: [TeacherService],
})
export class TeacherModule {}
