import {
  ForbiddenException,
  HttpException,
  Inject,
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { CoordinatorEvents } from '../events/coordinator-events.js';
import { COORDINATOR_STORE, type CoordinatorStore, type TokenRecord } from '../store/store.js';
import { REQUIRED_ROLE } from './roles.decorator.js';
import { hashToken, type Role } from './tokens.js';

export interface TokenRequest {
  headers: Record<string, string | string[] | undefined>;
  method: string;
  /** The route as declared (`/api/runs/:id`), not the URL: no query string reaches the log. */
  route?: { path?: string };
  token?: TokenRecord;
}

/**
 * Bearer tokens, checked against their hashes in the store. A missing, unknown or revoked token
 * is 401; an auditor's token on an operator's handler is 403.
 */
@Injectable()
export class TokenGuard implements CanActivate {
  constructor(
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    private readonly reflector: Reflector,
    private readonly events: CoordinatorEvents,
  ) {}

  /**
   * Every use of the API by a token holder is an operator or auditor event in the audit log,
   * refused or not. A request without a usable token is anyone's: it is counted and sampled
   * (unauthenticatedRefusal), so a flood of them cannot grow the log by one entry each.
   */
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<TokenRequest>();
    const where = { method: request.method, route: request.route?.path ?? '' };
    try {
      const token = await this.authenticate(context, request);
      this.events.emit('audit', {
        event: 'operator.access',
        token: token.id,
        role: token.role,
        ...where,
      });
      return true;
    } catch (error) {
      const code = ((error as HttpException).getResponse() as { code?: string }).code;
      if (error instanceof UnauthorizedException) {
        this.events.emit('unauthenticatedRefusal', { kind: 'api', code: code ?? 'auth.bad_token' });
      } else {
        this.events.emit('audit', { event: 'operator.refused', code, ...where });
      }
      throw error;
    }
  }

  private async authenticate(
    context: ExecutionContext,
    request: TokenRequest,
  ): Promise<TokenRecord> {
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer (\S+)$/.exec(header) : null;
    if (!match) {
      throw new UnauthorizedException({
        code: 'auth.missing_token',
        message: 'send an operator or auditor token as "Authorization: Bearer <token>"',
      });
    }
    const token = await this.store.tokens.byHash(hashToken(match[1]!));
    if (!token) {
      throw new UnauthorizedException({
        code: 'auth.bad_token',
        message: 'the token is unknown, revoked or expired',
      });
    }
    if (token.kind === 'login') {
      throw new UnauthorizedException({
        code: 'auth.bad_token',
        message: 'a login token only opens a dashboard session (POST /api/sessions)',
      });
    }
    const required = this.reflector.get<Role | undefined>(REQUIRED_ROLE, context.getHandler());
    if (required && token.role !== required) {
      throw new ForbiddenException({
        code: 'auth.forbidden',
        message: `this needs an ${required} token; ${token.name} is an ${token.role}`,
      });
    }
    request.token = token;
    return token;
  }
}
