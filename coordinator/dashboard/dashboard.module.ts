import { Module } from '@nestjs/common';
import { RunsModule } from '../runs/runs.module.js';
import { DashboardService } from './dashboard.service.js';
import { OperatorGateway } from './operator.gateway.js';

/** The operator dashboard's live feed (its static page is served by static-assets.ts). */
@Module({ imports: [RunsModule], providers: [DashboardService, OperatorGateway] })
export class DashboardModule {}
