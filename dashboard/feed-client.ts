import { io, type Socket } from 'socket.io-client';
// Types only from the schemas' module (the page loads no zod); the names are plain constants.
import {
  FEED_EVENTS,
  OPERATOR_FEED_QUERY,
  OPERATOR_NAMESPACE,
} from '../protocol/operator-feed-events.js';
import type {
  FeedAck,
  FeedHello,
  RunDelta,
  RunListItem,
  RunSnapshot,
} from '../protocol/operator-feed.js';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'disconnected';

export interface FeedHandlers {
  readonly connection: (state: ConnectionState) => void;
  readonly hello: (hello: FeedHello) => void;
  readonly runs: (runs: readonly RunListItem[]) => void;
  readonly snapshot: (snapshot: RunSnapshot) => void;
  readonly delta: (delta: RunDelta) => void;
  /** The server refused the session (expired, revoked): the page must log in again. */
  readonly refused: (message: string) => void;
  /** A subscribe the server turned down. */
  readonly subscribeFailed: (message: string) => void;
}

/**
 * The live feed on the operator namespace. It remembers the watched run and subscribes again
 * after every reconnect, since the server forgets subscriptions with the old socket.
 */
export class FeedClient {
  private readonly socket: Socket;
  private watched: string | undefined;

  constructor(
    token: string,
    private readonly handlers: FeedHandlers,
  ) {
    this.socket = io(OPERATOR_NAMESPACE, {
      transports: ['websocket'],
      auth: { token },
      query: OPERATOR_FEED_QUERY,
    });
    const socket = this.socket;
    handlers.connection('connecting');
    socket.on('connect', () => {
      handlers.connection('live');
      if (this.watched !== undefined) this.sendSubscribe(this.watched);
    });
    socket.on('disconnect', (reason) => {
      handlers.connection(socket.active ? 'reconnecting' : 'disconnected');
      // The server hangs up on a session whose token was revoked or has expired.
      if (reason === 'io server disconnect') {
        handlers.refused('the coordinator closed the session (token revoked or expired).');
      }
    });
    socket.on('connect_error', (error: Error) => {
      // Inactive after an error means the server's middleware said no: retrying cannot help.
      if (!socket.active) {
        handlers.connection('disconnected');
        handlers.refused(error.message || 'The coordinator refused the session.');
      } else {
        handlers.connection('reconnecting');
      }
    });
    socket.io.on('reconnect_failed', () => handlers.connection('disconnected'));
    socket.on(FEED_EVENTS.hello, handlers.hello);
    socket.on(FEED_EVENTS.runs, handlers.runs);
    socket.on(FEED_EVENTS.snapshot, (snapshot: RunSnapshot) => {
      if (snapshot.run.id === this.watched) handlers.snapshot(snapshot);
    });
    socket.on(FEED_EVENTS.delta, (delta: RunDelta) => {
      // A delta of the run just left can still be in flight after a switch.
      if (delta.run.id === this.watched) handlers.delta(delta);
    });
  }

  /** Watch this run from now on (a snapshot, then deltas). */
  subscribe(runId: string): void {
    this.watched = runId;
    if (this.socket.connected) this.sendSubscribe(runId);
  }

  close(): void {
    this.socket.removeAllListeners();
    this.socket.io.removeAllListeners();
    this.socket.disconnect();
  }

  private sendSubscribe(runId: string): void {
    const handlers = this.handlers;
    this.socket
      .timeout(10_000)
      .emit(FEED_EVENTS.subscribe, runId, (error: Error | null, ack?: FeedAck) => {
        if (runId !== this.watched) return;
        if (error) handlers.subscribeFailed('The coordinator did not answer the subscription.');
        else if (ack && !ack.ok) handlers.subscribeFailed(ack.message);
      });
  }
}
