import { Module } from '@nestjs/common';
import { TokenGuard } from '../api/token.guard.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsGuard } from './metrics.guard.js';
import { MetricsService } from './metrics.service.js';

@Module({ controllers: [MetricsController], providers: [MetricsService, MetricsGuard, TokenGuard] })
export class MetricsModule {}
