import { Module } from '@nestjs/common';
import { EvaluationModule } from '../evaluation/evaluation.module.js';
import { TeacherService } from './teacher.service.js';

@Module({ imports: [EvaluationModule], providers: [TeacherService], exports: [TeacherService] })
export class TeacherModule {}
