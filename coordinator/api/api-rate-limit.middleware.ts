import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import { CoordinatorEvents } from '../events/coordinator-events.js';
import { KeyedRateLimiter } from '../limits/keyed-rate-limiter.js';

/**
 * Per-address rates on the API, checked before the token: a flood costs neither a token lookup
 * nor an audit entry. Logins (POST /api/sessions) have a second, tighter rate of their own.
 * Over a rate: 429 with Retry-After.
 */
@Injectable()
export class ApiRateLimit implements NestMiddleware {
  private readonly api: KeyedRateLimiter;
  private readonly sessions: KeyedRateLimiter;

  constructor(
    @Inject(COORDINATOR_SETUP) setup: CoordinatorSetup,
    private readonly events: CoordinatorEvents,
  ) {
    this.api = new KeyedRateLimiter(setup.config.limits.api);
    this.sessions = new KeyedRateLimiter(setup.config.limits.sessions);
  }

  use(
    request: IncomingMessage & { originalUrl?: string },
    response: ServerResponse,
    next: () => void,
  ): void {
    const address = request.socket.remoteAddress ?? 'unknown';
    // originalUrl: a mounted middleware sees `url` without its mount path.
    const path = request.originalUrl ?? request.url ?? '';
    const login = request.method === 'POST' && /^\/api\/sessions\/?(\?|$)/.test(path);
    const limiter = !this.api.take(address)
      ? this.api
      : login && !this.sessions.take(address)
        ? this.sessions
        : undefined;
    if (!limiter) return next();
    this.events.emit('unauthenticatedRefusal', { kind: 'api', code: 'api.rate_limited' });
    response.statusCode = 429;
    response.setHeader('Retry-After', String(limiter.retryAfterSeconds(address)));
    response.setHeader('Content-Type', 'application/json; charset=utf-8');
    response.end(
      JSON.stringify({ code: 'api.rate_limited', message: 'too many requests from this address' }),
    );
  }
}
