import { Inject } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
  type OnGatewayConnection,
  type OnGatewayDisconnect,
  type OnGatewayInit,
} from '@nestjs/websockets';
import type { Socket as TcpSocket } from 'node:net';
import type { Server, Socket } from 'socket.io';
import { MAX_SOCKET_MESSAGE_BYTES, SOCKET_EVENTS } from '../../protocol/index.js';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import { CoordinatorEvents } from '../events/coordinator-events.js';
import { KeyedRateLimiter } from '../limits/keyed-rate-limiter.js';
import { PreAuthBudget } from '../limits/preauth-budget.js';
import { SitesService } from '../sites/sites.service.js';
import { SiteSession } from './site-session.js';
import { SiteSessionHost } from './site-session-host.js';

/**
 * The socket.io server's options. Every gateway must give them all: Nest creates the one
 * server with the options of whichever gateway it sets up first. Websocket only (no
 * long-polling fallback), and a message cap above the largest frame: socket.io's 1 MB default
 * would silently drop larger frames.
 */
export const SOCKET_SERVER_OPTIONS = {
  transports: ['websocket'],
  maxHttpBufferSize: MAX_SOCKET_MESSAGE_BYTES,
} as const;

/** The sites' socket.io endpoint (the default namespace). */
@WebSocketGateway({ ...SOCKET_SERVER_OPTIONS })
export class SiteGateway implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect {
  private readonly sessions = new Map<string, SiteSession>();
  private readonly handshakes: KeyedRateLimiter;

  constructor(
    @Inject(COORDINATOR_SETUP) private readonly setup: CoordinatorSetup,
    private readonly sites: SitesService,
    private readonly host: SiteSessionHost,
    private readonly events: CoordinatorEvents,
    private readonly preAuth: PreAuthBudget,
  ) {
    this.handshakes = new KeyedRateLimiter(setup.config.limits.handshakes);
    // A revoked or rotated key loses its live session at once, not at its next handshake.
    sites.onChange(() => {
      for (const session of this.sessions.values()) {
        const key = session.siteKey;
        if (key && !sites.isEnrolled(key)) session.refuse('site.revoked', 'the key was revoked');
      }
    });
  }

  /**
   * The budget starts as engine.io accepts the websocket, before socket.io's own connect packet:
   * the earliest moment the TCP socket is known, with only the upgrade request read.
   */
  afterInit(server: Server): void {
    server.engine.on('connection', (conn: { request: { socket: TcpSocket } }) =>
      this.preAuth.watch(conn.request.socket),
    );
  }

  handleConnection(socket: Socket): void {
    const tcp = socket.request.socket;
    const address = tcp.remoteAddress ?? 'unknown';
    const session = new SiteSession(socket, {
      sodium: this.setup.sodium,
      identity: this.setup.identity,
      admitSite: (key) => this.sites.admit(key),
      host: this.host,
      events: this.events,
      handshakeTimeoutMs: this.setup.config.listen.handshakeTimeoutMs,
      admitHandshake: () => this.handshakes.take(address),
      authenticated: () => this.preAuth.release(tcp),
    });
    this.sessions.set(socket.id, session);
  }

  handleDisconnect(socket: Socket): void {
    this.sessions.get(socket.id)?.close();
    this.sessions.delete(socket.id);
  }

  @SubscribeMessage(SOCKET_EVENTS.initiation)
  onInitiation(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown): void {
    this.sessions.get(socket.id)?.onInitiation(body);
  }

  @SubscribeMessage(SOCKET_EVENTS.finish)
  onFinish(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown): void {
    this.sessions.get(socket.id)?.onFinish(body);
  }

  @SubscribeMessage(SOCKET_EVENTS.streamHeader)
  onStreamHeader(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown): void {
    this.sessions.get(socket.id)?.onStreamHeader(body);
  }

  @SubscribeMessage(SOCKET_EVENTS.frame)
  onFrame(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown): void {
    this.sessions.get(socket.id)?.onFrame(body);
  }

  @SubscribeMessage(SOCKET_EVENTS.refuse)
  onRefuse(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown): void {
    this.sessions.get(socket.id)?.onPeerRefusal(body);
  }
}
