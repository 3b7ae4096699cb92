import type { Socket } from 'node:net';
import { Inject, Injectable } from '@nestjs/common';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import { CoordinatorEvents } from '../events/coordinator-events.js';

/**
 * The bytes a connection may send before its handshake completes. socket.io's message cap must
 * sit above the largest frame, so without this an anonymous peer could make the coordinator
 * buffer that much per socket. Counted on the TCP socket (its upgrade request included), so a
 * message is cut off while it arrives, not after it was read whole: at most the budget plus one
 * read chunk is ever held for an unauthenticated peer. The site gateway releases a socket when
 * its handshake completes, the dashboard's feed when its token is accepted.
 */
@Injectable()
export class PreAuthBudget {
  private readonly watching = new WeakMap<Socket, () => void>();
  private readonly bytes: number;

  constructor(
    @Inject(COORDINATOR_SETUP) setup: CoordinatorSetup,
    private readonly events: CoordinatorEvents,
  ) {
    this.bytes = setup.config.limits.preAuthBytes;
  }

  /** Starts counting `socket`'s bytes; it is cut off once they pass the budget. */
  watch(socket: Socket): void {
    const check = (): void => {
      if (socket.bytesRead <= this.bytes) return;
      this.release(socket);
      socket.destroy();
      this.events.emit('unauthenticatedRefusal', {
        kind: 'connection',
        code: 'limits.pre_auth_bytes',
      });
    };
    this.watching.set(socket, check);
    socket.on('data', check);
    check();
  }

  /** The handshake completed: the socket may now send frames of any allowed size. */
  release(socket: Socket): void {
    const check = this.watching.get(socket);
    if (!check) return;
    socket.off('data', check);
    this.watching.delete(socket);
  }
}
