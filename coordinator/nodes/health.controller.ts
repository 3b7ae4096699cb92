import { Controller, Get, Inject } from '@nestjs/common';

/** Which part this process plays: it conducts runs, or serves sites for the node that does. */
export const NODE_ROLE = Symbol('NODE_ROLE');
export type NodeRole = 'leader' | 'edge';

/**
 * Liveness for probes and load balancers, on every node and without a token: the process
 * serves, and in which role. Edge nodes serve no API, so probes cannot use the API's pages.
 */
@Controller('healthz')
export class HealthController {
  constructor(@Inject(NODE_ROLE) private readonly role: NodeRole) {}

  @Get()
  health(): { status: 'serving'; role: NodeRole } {
    return { status: 'serving', role: this.role };
  }
}
