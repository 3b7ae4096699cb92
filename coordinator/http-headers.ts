import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NestExpressApplication } from '@nestjs/platform-express';

/** A year, as browsers' preload lists expect; sent only over HTTPS, where it means something. */
const HSTS_MAX_AGE_S = 365 * 24 * 3600;

type Next = () => void;

/**
 * Headers every response of the coordinator's HTTP side carries: no framework banner; no API
 * answer (tokens, run specs, audit entries) kept by a browser or proxy cache; and, over HTTPS,
 * HSTS so that a browser never tries plain HTTP again.
 */
export function applyHttpHeaders(app: NestExpressApplication, options: { https: boolean }): void {
  app.disable('x-powered-by');
  if (options.https) {
    app.use((_request: IncomingMessage, response: ServerResponse, next: Next) => {
      response.setHeader('Strict-Transport-Security', `max-age=${HSTS_MAX_AGE_S}`);
      next();
    });
  }
  const noStore = (_request: IncomingMessage, response: ServerResponse, next: Next): void => {
    response.setHeader('Cache-Control', 'no-store');
    next();
  };
  app.use('/api', noStore);
  app.use('/metrics', noStore);
}
