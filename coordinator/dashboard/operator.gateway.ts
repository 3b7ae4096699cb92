import { Inject, Logger, type OnModuleDestroy } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
  type OnGatewayConnection,
  type OnGatewayInit,
} from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import {
  FEED_EVENTS,
  feedSubscribeSchema,
  OPERATOR_NAMESPACE,
  type FeedAck,
  type FeedHello,
  type RunSnapshot,
} from '../../protocol/index.js';
import { hashToken } from '../api/tokens.js';
import { CoordinatorEvents } from '../events/coordinator-events.js';
import { SOCKET_SERVER_OPTIONS } from '../gateway/site.gateway.js';
import { PreAuthBudget } from '../limits/preauth-budget.js';
import { COORDINATOR_STORE, type CoordinatorStore, type TokenRecord } from '../store/store.js';
import { DashboardService } from './dashboard.service.js';
import { diffRunView } from './run-view.js';

/** Coalesces bursts (a thousand updates in a round) into at most this many pushes a second. */
const PUSH_INTERVAL_MS = 250;
/** How often live feeds are checked for a token that expired or was revoked meanwhile. */
const TOKEN_CHECK_MS = 30_000;

interface OperatorSocketData {
  token: TokenRecord;
  /** Its hash, to look it up again (revoked or expired since?). */
  tokenHash: string;
  runId?: string;
}

type OperatorSocket = Socket<never, never, never, OperatorSocketData>;

/**
 * The dashboard's live feed: a socket.io namespace for operator and auditor tokens (the same
 * tokens as the REST API; sessions from POST /api/sessions). Read-only: run controls go through
 * the REST API, where the operator-only rule is enforced. Each socket watches one run; its
 * view is pushed whole once, then as changes, computed once per run for all its watchers.
 */
@WebSocketGateway({ ...SOCKET_SERVER_OPTIONS, namespace: OPERATOR_NAMESPACE })
export class OperatorGateway implements OnGatewayInit, OnGatewayConnection, OnModuleDestroy {
  private namespace!: Namespace;
  /** Per watched run, the view its watchers hold. */
  private readonly sent = new Map<string, RunSnapshot>();
  private runListJson = '';
  private pushTimer: NodeJS.Timeout | undefined;
  private pushing: Promise<void> = Promise.resolve();
  private readonly logger = new Logger('OperatorFeed');
  private readonly tokenCheck: NodeJS.Timeout;

  constructor(
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    private readonly dashboard: DashboardService,
    private readonly events: CoordinatorEvents,
    private readonly preAuth: PreAuthBudget,
  ) {
    const schedule = (): void => this.schedulePush();
    for (const name of ['audit', 'site', 'round', 'roundFailed', 'complete'] as const) {
      events.on(name, schedule);
    }
    events.on('protocol', schedule);
    events.on('tokenRevoked', (id) => this.disconnectWhere((data) => data.token.id === id));
    this.tokenCheck = setInterval(() => void this.disconnectEnded(), TOKEN_CHECK_MS);
    this.tokenCheck.unref();
  }

  afterInit(namespace: Namespace): void {
    this.namespace = namespace;
    namespace.use((socket, next) => {
      const raw: unknown = (socket.handshake.auth as Record<string, unknown>).token;
      const tokenHash = typeof raw === 'string' ? hashToken(raw) : '';
      const found = tokenHash ? this.store.tokens.byHash(tokenHash) : Promise.resolve(undefined);
      found.then(
        (token) => {
          if (!token || token.kind === 'login') {
            this.events.emit('unauthenticatedRefusal', { kind: 'api', code: 'auth.bad_token' });
            next(new Error('auth.bad_token: the token is unknown, revoked or expired'));
            return;
          }
          const data: OperatorSocketData = { token, tokenHash };
          socket.data = data;
          this.preAuth.release(socket.request.socket);
          next();
        },
        (error: Error) => next(new Error(`store.unavailable: ${error.message}`)),
      );
    });
  }

  async handleConnection(socket: OperatorSocket): Promise<void> {
    const { token } = socket.data;
    this.events.emit('audit', {
      event: 'operator.access',
      token: token.id,
      role: token.role,
      route: OPERATOR_NAMESPACE,
    });
    const hello: FeedHello = { role: token.role, name: token.name };
    (socket as Socket).emit(FEED_EVENTS.hello, hello);
    (socket as Socket).emit(FEED_EVENTS.runs, await this.dashboard.runList());
  }

  /** Watch one run: its whole view now, then its changes. */
  @SubscribeMessage(FEED_EVENTS.subscribe)
  async subscribe(
    @ConnectedSocket() socket: OperatorSocket,
    @MessageBody() body: unknown,
  ): Promise<FeedAck> {
    const parsed = feedSubscribeSchema.safeParse(body);
    if (!parsed.success) return { ok: false, message: 'subscribe takes a run id' };
    const runId = parsed.data;
    // Bring the run's other watchers up to date first, so the snapshot and the deltas agree.
    await this.push();
    const view = this.sent.get(runId) ?? (await this.dashboard.runView(runId));
    if (!view) return { ok: false, message: `no run ${runId}` };
    this.sent.set(runId, view);
    if (socket.data.runId) void socket.leave(room(socket.data.runId));
    socket.data.runId = runId;
    void socket.join(room(runId));
    (socket as Socket).emit(FEED_EVENTS.snapshot, view);
    return { ok: true };
  }

  private schedulePush(): void {
    if (this.pushTimer || !this.namespace) return;
    this.pushTimer = setTimeout(() => {
      this.pushTimer = undefined;
      void this.push();
    }, PUSH_INTERVAL_MS);
  }

  /**
   * Sends every watched run's changes to its watchers, and the run list when it changed; one
   * push at a time, so that each delta is taken against the view the previous one sent.
   */
  private push(): Promise<void> {
    this.pushing = this.pushing
      .then(() => this.pushNow())
      .catch((error: Error) => this.logger.error(`dashboard push failed: ${error.message}`));
    return this.pushing;
  }

  private async pushNow(): Promise<void> {
    if (!this.namespace || this.namespace.sockets.size === 0) return;
    const runList = await this.dashboard.runList();
    const json = JSON.stringify(runList);
    if (json !== this.runListJson) {
      this.runListJson = json;
      this.namespace.emit(FEED_EVENTS.runs, runList);
    }
    const watched = new Set(
      [...this.namespace.sockets.values()].map((s) => (s.data as OperatorSocketData).runId),
    );
    for (const runId of this.sent.keys()) if (!watched.has(runId)) this.sent.delete(runId);
    for (const [runId, before] of this.sent) {
      const after = await this.dashboard.runView(runId);
      if (!after) continue;
      const delta = diffRunView(before, after);
      this.sent.set(runId, after);
      if (delta) this.namespace.to(room(runId)).emit(FEED_EVENTS.delta, delta);
    }
  }

  /** Closes the feeds whose token expired or was revoked since they connected. */
  private async disconnectEnded(): Promise<void> {
    const sockets = [...(this.namespace?.sockets.values() ?? [])];
    for (const socket of sockets) {
      const data = socket.data as OperatorSocketData;
      const token = await this.store.tokens.byHash(data.tokenHash).catch(() => data.token);
      if (!token) socket.disconnect(true);
    }
  }

  private disconnectWhere(ended: (data: OperatorSocketData) => boolean): void {
    for (const socket of this.namespace?.sockets.values() ?? []) {
      if (ended(socket.data as OperatorSocketData)) socket.disconnect(true);
    }
  }

  onModuleDestroy(): void {
    clearInterval(this.tokenCheck);
    if (this.pushTimer) clearTimeout(this.pushTimer);
  }
}

function room(runId: string): string {
  return `run:${runId}`;
}
