import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NestExpressApplication } from '@nestjs/platform-express';

/** Where `npm run build` puts the dashboard: dist/dashboard, beside dist/coordinator. */
const BUILT = fileURLToPath(new URL('../../dashboard/', import.meta.url));

/** The browser libraries, served from the installed packages: nothing comes from a CDN. */
const VENDOR: Readonly<Record<string, string>> = {
  uplot: 'uplot/package.json',
  'socket.io': 'socket.io-client/package.json',
};

/**
 * The page's Content-Security-Policy: scripts only from the coordinator, plus the page's one
 * inline import map, allowed by its hash; nothing is framed, nothing else is fetched.
 */
function contentSecurityPolicy(indexHtml: string): string {
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(indexHtml)?.[1];
  const mapHash = importMap
    ? ` 'sha256-${createHash('sha256').update(importMap, 'utf8').digest('base64')}'`
    : '';
  return [
    "default-src 'self'",
    `script-src 'self'${mapHash}`,
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join('; ');
}

/**
 * Serves the dashboard at /dashboard/ (and sends / there). The login token in a link must not
 * leak: no Referer leaves the page, and the page itself is never cached.
 */
export function serveDashboard(app: NestExpressApplication): { served: boolean } {
  const index = path.join(BUILT, 'index.html');
  if (!existsSync(index)) return { served: false };
  const csp = contentSecurityPolicy(readFileSync(index, 'utf8'));
  const setHeaders = (res: ServerResponse, file: string): void => {
    res.setHeader('Content-Security-Policy', csp);
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', file.endsWith('.html') ? 'no-store' : 'no-cache');
  };
  const require = createRequire(import.meta.url);
  for (const [name, manifest] of Object.entries(VENDOR)) {
    const dir = path.join(path.dirname(require.resolve(manifest)), 'dist');
    app.useStaticAssets(dir, { prefix: `/dashboard/vendor/${name}/`, setHeaders });
  }
  app.useStaticAssets(BUILT, { prefix: '/dashboard/', setHeaders });
  const http = app.getHttpAdapter();
  http.get('/', (_request: unknown, response: unknown) =>
    http.redirect(response, 302, '/dashboard/'),
  );
  return { served: true };
}
