import { Module } from '@nestjs/common';
import { RunsModule } from '../runs/runs.module.js';
import { SitesModule } from '../sites/sites.module.js';
import { AuditController } from './audit.controller.js';
import { DocsController } from './docs.controller.js';
import { RunsController } from './runs.controller.js';
import { SessionsController } from './sessions.controller.js';
import { SitesController } from './sites.controller.js';
import { TokenGuard } from './token.guard.js';

/** The REST API for operators and auditors, under /api. */
@Module({
  imports: [RunsModule, SitesModule],
  controllers: [
    AuditController,
    DocsController,
    RunsController,
    SessionsController,
    SitesController,
  ],
  providers: [TokenGuard],
})
export class ApiModule {}
