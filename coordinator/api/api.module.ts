import { Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { ApiRateLimit } from './api-rate-limit.middleware.js';
import { RunsModule } from '../runs/runs.module.js';
import { SitesModule } from '../sites/sites.module.js';
import { AuditController } from './audit.controller.js';
import { DocsController } from './docs.controller.js';
import { RunsController } from './runs.controller.js';
import { SessionsController } from './sessions.controller.js';
import { SitesController } from './sites.controller.js';
import { TokenGuard } from './token.guard.js';

const CONTROLLERS = [
  AuditController,
  DocsController,
  RunsController,
  SessionsController,
  SitesController,
];

/** The REST API for operators and auditors, under /api; every route rate-limited per address. */
@Module({
  imports: [RunsModule, SitesModule],
  controllers: CONTROLLERS,
  providers: [TokenGuard],
})
export class ApiModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(ApiRateLimit).forRoutes(...CONTROLLERS);
  }
}
