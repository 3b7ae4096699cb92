import type { Server } from 'node:net';
import type { CoordinatorLimits } from '../config/coordinator-config.js';

/**
 * Caps the server's open TCP connections, in all and per peer address. A connection over a cap
 * is destroyed as it arrives, before a byte of it is read; `refused` counts it.
 */
export function limitConnections(
  server: Server,
  limits: CoordinatorLimits['connections'],
  refused: (code: 'limits.connections_total' | 'limits.connections_per_address') => void,
): void {
  const open = new Map<string, number>();
  let total = 0;
  server.on('connection', (socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const mine = open.get(address) ?? 0;
    if (total >= limits.total || mine >= limits.perAddress) {
      socket.destroy();
      refused(
        total >= limits.total ? 'limits.connections_total' : 'limits.connections_per_address',
      );
      return;
    }
    total += 1;
    open.set(address, mine + 1);
    socket.once('close', () => {
      total -= 1;
      const left = (open.get(address) ?? 1) - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
}
