import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { OPERATOR_FEED_QUERY } from '../../protocol/index.js';

/** Where the leader serves HTTP now, or why an edge cannot say. */
export type LeaderAddress = { url: string } | { missing: string };

/** Hop-by-hop headers (RFC 9110, 7.6.1): they describe one connection, not the request. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer'];

/** Headers a proxy forwards: the client's, less the hop-by-hop ones, for the leader's host. */
function forwardedHeaders(req: http.IncomingMessage, target: URL): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = { ...req.headers, host: target.host };
  for (const name of HOP_BY_HOP) delete headers[name];
  const peer = req.socket.remoteAddress;
  if (peer) {
    const before = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = before ? `${String(before)}, ${peer}` : peer;
  }
  return headers;
}

/** A request to the leader, over HTTPS when it serves HTTPS. */
const requestTo = (
  target: URL,
  options: http.RequestOptions,
  ca: string[] | undefined,
  answered?: (answer: http.IncomingMessage) => void,
): http.ClientRequest =>
  (target.protocol === 'https:' ? https : http).request(
    target,
    { ...options, ...(ca ? { ca } : {}) },
    answered,
  );

const unavailable = (res: http.ServerResponse, message: string): void => {
  res.writeHead(503, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ code: 'store.unavailable', message }));
};

/**
 * An edge node answers operators as the leader would: every HTTP request but `/healthz` and the
 * sites' socket.io endpoint (the API, the dashboard's pages, the metrics) is forwarded to the
 * leader, streamed both ways. The leader checks tokens and roles as for a request of its own;
 * the edge sees the token in passing, as any reverse proxy does, and keeps nothing. Registered
 * before the app initialises, so that it runs before Nest's routes and body parsers.
 */
export function forwardRequests(
  app: NestExpressApplication,
  leader: () => Promise<LeaderAddress>,
  ca?: string[],
): void {
  app.use((req: http.IncomingMessage, res: http.ServerResponse, next: () => void) => {
    const path = new URL(req.url ?? '/', 'http://edge').pathname;
    if (path === '/healthz' || path.startsWith('/socket.io/')) return next();
    void leader().then((address) => {
      if ('missing' in address) return unavailable(res, address.missing);
      const target = new URL(req.url ?? '/', address.url);
      const upstream = requestTo(
        target,
        { method: req.method, headers: forwardedHeaders(req, target) },
        ca,
        (answer) => {
          const headers = { ...answer.headers };
          for (const name of HOP_BY_HOP) delete headers[name];
          res.writeHead(answer.statusCode ?? 502, headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', (error) => {
        if (!res.headersSent) unavailable(res, `the leader did not answer: ${error.message}`);
        else res.destroy();
      });
      req.pipe(upstream);
    });
  });
}

/**
 * The dashboard's live feed reaching an edge node (its websocket URL carries `feed=operator`)
 * is forwarded to the leader as bytes; every other upgrade (the sites') stays with this node's
 * socket.io. Called once the app listens, when socket.io has added its own listener.
 */
export function forwardFeed(
  server: http.Server,
  leader: () => Promise<LeaderAddress>,
  ca?: string[],
): void {
  const own = server.listeners('upgrade') as ((...args: unknown[]) => void)[];
  server.removeAllListeners('upgrade');
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://edge');
    if (url.searchParams.get('feed') !== OPERATOR_FEED_QUERY.feed) {
      for (const listener of own) listener.call(server, req, socket, head);
      return;
    }
    void leader().then((address) => {
      if ('missing' in address) return socket.destroy();
      const target = new URL(req.url ?? '/', address.url);
      const upstream = requestTo(
        target,
        {
          method: req.method,
          headers: {
            ...forwardedHeaders(req, target),
            connection: 'Upgrade',
            upgrade: 'websocket',
          },
        },
        ca,
      );
      upstream.on('upgrade', (answer, leaderSocket, leaderHead) => {
        const lines = [`HTTP/1.1 ${answer.statusCode} ${answer.statusMessage}`];
        for (let i = 0; i < answer.rawHeaders.length; i += 2) {
          lines.push(`${answer.rawHeaders[i]}: ${answer.rawHeaders[i + 1]}`);
        }
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
        if (leaderHead.length > 0) socket.write(leaderHead);
        if (head.length > 0) leaderSocket.write(head);
        leaderSocket.pipe(socket).pipe(leaderSocket);
        leaderSocket.on('error', () => socket.destroy());
        socket.on('error', () => leaderSocket.destroy());
      });
      upstream.on('response', () => socket.destroy());
      upstream.on('error', () => socket.destroy());
      upstream.end();
    });
  });
}
