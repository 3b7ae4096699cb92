import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  HttpCode,
  HttpException,
  HttpStatus,
  Inject,
  Post,
  Req,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { parseWith, sessionRequestSchema, type DashboardSession } from '../../protocol/index.js';
import { CoordinatorEvents } from '../events/coordinator-events.js';
import { COORDINATOR_STORE, type CoordinatorStore } from '../store/store.js';
import { TokenGuard, type TokenRequest } from './token.guard.js';
import { hashToken, issueToken, SESSION_TTL_MS } from './tokens.js';

/**
 * Dashboard logins. A browser trades a token for a short-lived session token once, so the
 * long-lived API token (or the one-time link's token) is not kept in the browser.
 */
@Controller('api/sessions')
export class SessionsController {
  constructor(
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    private readonly events: CoordinatorEvents,
  ) {}

  /** An API token or a one-time login token (used up here) opens a session. */
  @Post()
  async open(@Body() body: unknown): Promise<DashboardSession> {
    const parsed = parseWith(sessionRequestSchema, body, 'schema.invalid', 'session request');
    if (!parsed.ok) throw new HttpException(parsed.error, HttpStatus.BAD_REQUEST);
    const token = await this.store.tokens.byHash(hashToken(parsed.value.token));
    // A session cannot extend itself; a login token is revoked as it is used, exactly once.
    const usable =
      token !== undefined &&
      token.kind !== 'session' &&
      (token.kind === 'api' || (await this.store.tokens.revoke(token.id)));
    if (!usable) {
      this.events.emit('unauthenticatedRefusal', { kind: 'api', code: 'auth.bad_token' });
      throw new UnauthorizedException({
        code: 'auth.bad_token',
        message:
          token?.kind === 'session'
            ? 'a session token cannot open another session; log in with an API or login token'
            : 'the token is unknown, revoked, expired or (a login link) already used',
      });
    }
    const { record, secret } = await issueToken(this.store.tokens, {
      name: token.name,
      role: token.role,
      kind: 'session',
      ttlMs: SESSION_TTL_MS,
    });
    this.events.emit('audit', {
      event: 'operator.login',
      token: token.id,
      session: record.id,
      role: token.role,
    });
    return { token: secret, role: token.role, name: token.name, expiresAt: record.expiresAt! };
  }

  /** Logs the session out: its token is revoked, and its live feed closed. */
  @Delete('current')
  @HttpCode(204)
  @UseGuards(TokenGuard)
  async close(@Req() request: TokenRequest): Promise<void> {
    const token = request.token!;
    if (token.kind !== 'session') {
      throw new BadRequestException({
        code: 'auth.not_a_session',
        message:
          'only a dashboard session logs out; revoke an API token with fedistill token revoke',
      });
    }
    await this.store.tokens.revoke(token.id);
    this.events.emit('audit', { event: 'operator.logout', session: token.id });
    this.events.emit('tokenRevoked', token.id);
  }
}
