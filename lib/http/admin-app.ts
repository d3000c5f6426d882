import { timingSafeEqual } from 'node:crypto';
import express from 'express';
import type { Express, NextFunction, Request, Response } from 'express';
import type { Registry } from 'prom-client';
import { statusPage } from './status-page.ts';

export interface AdminOptions {
  apiKey: string | undefined;
  isReady: () => boolean;
  status: () => unknown;
  /** A Registry, or in a multi-worker primary whatever aggregates the workers'. */
  metrics: Pick<Registry, 'contentType' | 'metrics'>;
  reload: () => Promise<{ applied: boolean; problems: Array<{ path: string; message: string }>; routes: number }>;
}

function keyMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function sendJson(res: Response, status: number, body: unknown): void {
  res.status(status).type('application/json').send(JSON.stringify(body));
}

// Each admin path and its methods, so a wrong method gets 405 with Allow rather than a misleading 404.
const allowed: ReadonlyMap<string, readonly string[]> = new Map([
  ['/', ['GET', 'HEAD']],
  ['/healthz', ['GET', 'HEAD']],
  ['/readyz', ['GET', 'HEAD']],
  ['/metrics', ['GET', 'HEAD']],
  ['/status', ['GET', 'HEAD']],
  ['/reload', ['POST']],
]);

/** The control plane, on its own listener. */
export function createAdminApp(opts: AdminOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req: Request, res: Response, next: NextFunction) => {
    const methods = allowed.get(req.path);
    if (!methods || methods.includes(req.method)) return next();
    res.setHeader('allow', methods.join(', '));
    sendJson(res, 405, { error: { message: `${req.method} is not allowed on ${req.path} (use ${methods.join(' or ')})`, type: 'method_not_allowed' } });
  });

  app.get('/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }));

  app.get('/readyz', (_req, res) => {
    const ready = opts.isReady();
    sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' });
  });

  // The status page is a shell without data (a browser cannot send X-API-KEY when it opens a page):
  // its script asks /status with the key the operator types in.
  app.get('/', (_req, res) => {
    res.status(200)
      .type('text/html; charset=utf-8')
      .set({
        'content-security-policy': statusPage.contentSecurityPolicy,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
      })
      .send(statusPage.html);
  });

  // Liveness, readiness and the page's shell stay open; every figure needs the key.
  app.use((req: Request, res: Response, next: NextFunction) => {
    const expected = opts.apiKey;
    if (!expected) return next();
    const given = req.headers['x-api-key'];
    if (typeof given === 'string' && keyMatches(given, expected)) return next();
    sendJson(res, 401, { error: { message: 'missing or wrong X-API-KEY', type: 'authentication_error' } });
  });

  app.get('/metrics', async (_req, res) => {
    res.status(200).type(opts.metrics.contentType).send(await opts.metrics.metrics());
  });

  app.post('/reload', async (_req, res) => {
    const result = await opts.reload();
    sendJson(res, result.applied ? 200 : 400, result);
  });

  app.get('/status', async (_req, res) => sendJson(res, 200, await opts.status()));

  app.use((_req: Request, res: Response) => sendJson(res, 404, { error: { message: 'not found', type: 'not_found' } }));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    void err;
    sendJson(res, 500, { error: { message: 'internal error', type: 'server_error' } });
  });
  return app;
}
