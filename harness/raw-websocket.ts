import { randomBytes } from 'node:crypto';
import net from 'node:net';

/**
 * A websocket to the coordinator's socket.io endpoint written by hand on a TCP socket, for
 * floods: frames are masked with an all-zero key, so a payload goes out as the caller's own
 * buffer (one 8 MiB buffer serves fifty sockets without fifty copies), and the peer's address
 * can be any loopback address (`localAddress`, e.g. 127.0.0.2 on Linux).
 */
export class RawWebSocket {
  /** Settles when the coordinator (or anyone) closes the connection. */
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** Resolves once the upgrade is answered with 101; rejects if the connection is cut first. */
  static open(url: string, localAddress?: string): Promise<RawWebSocket> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = net.connect({
        host: hostname,
        port: Number(port),
        ...(localAddress ? { localAddress } : {}),
      });
      socket.on('error', () => undefined);
      let answer = '';
      const onData = (chunk: Buffer): void => {
        answer += chunk.toString('latin1');
        if (!answer.includes('\r\n\r\n')) return;
        socket.off('data', onData);
        socket.off('close', onClose);
        if (answer.startsWith('HTTP/1.1 101')) resolve(new RawWebSocket(socket));
        else reject(new Error(`upgrade refused: ${answer.split('\r\n')[0]}`));
      };
      const onClose = (): void => reject(new Error('connection closed before the upgrade'));
      socket.on('data', onData);
      socket.once('close', onClose);
      socket.once('connect', () =>
        socket.write(
          [
            'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1',
            `Host: ${hostname}:${port}`,
            'Upgrade: websocket',
            'Connection: Upgrade',
            `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
            'Sec-WebSocket-Version: 13',
            '',
            '',
          ].join('\r\n'),
        ),
      );
    });
  }

  /**
   * socket.io's connect packet for the default namespace, then `event` with one binary body:
   * a binary-event packet (`451-`) whose JSON holds socket.io's attachment marker
   * (`{_placeholder: true, num: 0}`) where the body goes, and the body as the next frame.
   */
  emitBinary(event: string, body: Uint8Array): void {
    this.frame(0x1, Buffer.from('40'));
    this.frame(0x1, Buffer.from(`451-${JSON.stringify([event, { _placeholder: true, num: 0 }])}`));
    this.frame(0x2, body);
  }

  close(): void {
    this.socket.destroy();
  }

  private frame(opcode: number, payload: Uint8Array): void {
    if (this.socket.destroyed) return;
    const length = payload.length;
    const extended = length < 126 ? 0 : length < 65_536 ? 2 : 8;
    // FIN + opcode, MASK + length, the extended length, then a zero mask key.
    const header = Buffer.alloc(2 + extended + 4);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | (extended === 0 ? length : extended === 2 ? 126 : 127);
    if (extended === 2) header.writeUInt16BE(length, 2);
    if (extended === 8) header.writeBigUInt64BE(BigInt(length), 2);
    this.socket.write(header);
    this.socket.write(payload);
  }
}
