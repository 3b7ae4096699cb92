import { Module } from '@nestjs/common';
import { EvaluationModule } from '../evaluation/evaluation.module.js';
import { SitesModule } from '../sites/sites.module.js';
import { TeacherModule } from '../teacher/teacher.module.js';
import { TransferModule } from '../transfer/transfer.module.js';
import { SiteSessionHost } from '../gateway/site-session-host.js';
import { RunsService } from './runs.service.js';

@Module({
  imports: [EvaluationModule, SitesModule, TeacherModule, TransferModule],
  providers: [RunsService, { provide: SiteSessionHost, useExisting: RunsService }],
  exports: [RunsService, SiteSessionHost],
})
export class RunsModule {}
