import { io, type Socket } from 'socket.io-client';
import {
  decodeCoordinatorMessage,
  encodeMessage,
  fail,
  HANDSHAKE_TIMEOUT_MS,
  isErrorCode,
  ok,
  SecureSession,
  SiteHandshake,
  SOCKET_EVENTS,
  type CoordinatorMessage,
  type ErrorCode,
  type IdentityKeyPair,
  type Result,
  type SiteMessage,
  type Sodium,
} from '../protocol/index.js';

export interface ConnectionOptions {
  readonly sodium: Sodium;
  readonly url: string;
  /** PEM: the certificate an https coordinator's must chain to, instead of the system's CAs. */
  readonly ca?: string;
  readonly identity: IdentityKeyPair;
  readonly pinnedCoordinatorKey: Uint8Array;
}

type Waiter = (result: Result<CoordinatorMessage>) => void;

/** How long a leaving site waits for the coordinator to close the connection. */
const LEAVE_GRACE_MS = 2_000;

/**
 * The site's end of a session: it runs the handshake over socket.io, then turns incoming frames
 * into validated messages, in order. The first failure (a refusal, a bad frame, a dropped
 * socket) ends the session and is what every later `next()` returns.
 */
export class CoordinatorConnection {
  private readonly queue: Result<CoordinatorMessage>[] = [];
  private readonly waiters: Waiter[] = [];
  private ended: Result<CoordinatorMessage> | undefined;
  private closing: Promise<void> | undefined;
  bytesSent = 0;
  bytesReceived = 0;

  private constructor(
    private readonly socket: Socket,
    private readonly session: SecureSession<SiteMessage, CoordinatorMessage>,
  ) {}

  static open(options: ConnectionOptions): Promise<Result<CoordinatorConnection>> {
    const { sodium } = options;
    const socket = io(options.url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      ...(options.ca ? { ca: options.ca } : {}),
    });
    const handshake = new SiteHandshake(sodium, options.identity, options.pinnedCoordinatorKey);
    let connection: CoordinatorConnection | undefined;
    let pendingFrames: unknown[] = [];
    let sent = 0;

    return new Promise((resolve) => {
      let settled = false;
      const settle = (result: Result<CoordinatorConnection>): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!result.ok) socket.disconnect();
        resolve(result);
      };
      const timer = setTimeout(
        () => settle(fail('handshake.timeout', `no handshake within ${HANDSHAKE_TIMEOUT_MS} ms`)),
        HANDSHAKE_TIMEOUT_MS,
      );

      socket.on('connect_error', (error) =>
        settle(fail('session.closed', `cannot reach ${options.url}: ${error.message}`)),
      );
      socket.on('connect', () => {
        const initiation = handshake.createInitiation();
        sent += initiation.length;
        socket.emit(SOCKET_EVENTS.initiation, initiation);
      });
      let session: SecureSession<SiteMessage, CoordinatorMessage> | undefined;
      socket.on(SOCKET_EVENTS.response, (response: unknown) => {
        const consumed = handshake.consumeResponse(response);
        if (!consumed.ok) return settle(consumed);
        session = new SecureSession(
          sodium,
          consumed.value.keys,
          encodeMessage,
          decodeCoordinatorMessage,
        );
        sent += consumed.value.finish.length + session.header.length;
        socket.emit(SOCKET_EVENTS.finish, consumed.value.finish);
        socket.emit(SOCKET_EVENTS.streamHeader, session.header);
      });
      socket.on(SOCKET_EVENTS.streamHeader, (header: unknown) => {
        if (!session) return settle(fail('handshake.unexpected_step', 'stream header too early'));
        const accepted = session.acceptPeerHeader(header);
        if (!accepted.ok) return settle(accepted);
        connection = new CoordinatorConnection(socket, session);
        connection.bytesSent = sent;
        for (const frame of pendingFrames) connection.receive(frame);
        pendingFrames = [];
        settle(ok(connection));
      });
      // Frames can arrive in the same tick as the stream header; none may be lost.
      socket.on(SOCKET_EVENTS.frame, (frame: unknown) => {
        if (connection) connection.receive(frame);
        else pendingFrames.push(frame);
      });
      socket.on(SOCKET_EVENTS.refuse, (reason: unknown) => {
        const code: ErrorCode = isErrorCode(reason) ? reason : 'session.closed';
        const result = fail<never>(code, `the coordinator refused the session: ${code}`);
        if (connection) connection.end(result);
        else settle(result);
      });
      socket.on('disconnect', (reason) => {
        const result = fail<never>('session.closed', `disconnected: ${reason}`);
        if (connection) connection.end(result);
        else settle(result);
      });
    });
  }

  private receive(frame: unknown): void {
    if (this.ended) return;
    if (frame instanceof Uint8Array) this.bytesReceived += frame.length;
    const opened = this.session.open(frame);
    if (!opened.ok) {
      this.end(opened);
      void this.refuse(opened.error.code);
      return;
    }
    this.push(ok(opened.value));
  }

  private push(result: Result<CoordinatorMessage>): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(result);
    else this.queue.push(result);
  }

  private end(result: Result<CoordinatorMessage>): void {
    if (this.ended) return;
    this.ended = result;
    this.push(result);
    for (const waiter of this.waiters.splice(0)) waiter(result);
  }

  /** The next message, or the failure that ended the session. */
  next(): Promise<Result<CoordinatorMessage>> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve(this.ended);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  send(message: SiteMessage): void {
    const frame = this.session.seal(message);
    this.bytesSent += frame.length;
    this.socket.emit(SOCKET_EVENTS.frame, frame);
  }

  /**
   * Ends the session with the site's final frame, giving the reason (run.complete or an error
   * code), and resolves once the coordinator has closed the connection (or after a grace
   * period). Closing at once would lose the frame: socket.io-client drops packets still
   * queued when it disconnects.
   */
  leave(reason: ErrorCode | 'run.complete'): Promise<void> {
    return this.closeAfter(() => this.send({ type: 'site.leave', reason }));
  }

  /** As leave, for when the coordinator's stream itself failed: the code goes out in plaintext. */
  refuse(code: ErrorCode): Promise<void> {
    return this.closeAfter(() => this.socket.emit(SOCKET_EVENTS.refuse, code));
  }

  private closeAfter(lastWords: () => void): Promise<void> {
    if (this.closing) return this.closing;
    if (this.ended) return this.close();
    lastWords();
    this.end(fail('session.closed', 'the site ended the session'));
    this.closing = new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.socket.disconnect();
        resolve();
      };
      const timer = setTimeout(done, LEAVE_GRACE_MS);
      this.socket.once('disconnect', done);
    });
    return this.closing;
  }

  /** Closes now, or waits for a leave already under way. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.end(fail('session.closed', 'the site closed the session'));
    this.socket.disconnect();
    return Promise.resolve();
  }
}
