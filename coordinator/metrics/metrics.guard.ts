import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { TokenGuard } from '../api/token.guard.js';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';

/**
 * /metrics tells how many sites are connected, how fast rounds go and how accurate the student
 * is: an operator or auditor token reads it, unless the config makes it public (`metrics.public`,
 * for a scraper on a network that is already closed).
 */
@Injectable()
export class MetricsGuard implements CanActivate {
  constructor(
    @Inject(COORDINATOR_SETUP) private readonly setup: CoordinatorSetup,
    private readonly tokens: TokenGuard,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    return this.setup.config.metrics.public || (await this.tokens.canActivate(context));
  }
}
