import { Controller, Get, Header, UseGuards } from '@nestjs/common';
import { MetricsGuard } from './metrics.guard.js';
import { MetricsService } from './metrics.service.js';

/** GET /metrics in the Prometheus text format. */
@Controller('metrics')
@UseGuards(MetricsGuard)
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return this.metrics.text();
  }
}
