import express from 'express';
import type { Express, NextFunction, Request, Response } from 'express';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { RouteRuntime } from '../pipeline/route-runtime.ts';
import { errorShapeForPath } from '../protocols/detect.ts';
import { renderError } from '../protocols/render-error.ts';
import { createDataPlaneHandler } from './data-plane.ts';
import { createRouteMatcher } from './route-matcher.ts';

export function createDataApp(
  routes: readonly RouteRuntime[],
  log: Logger,
  metrics: Metrics,
  isShuttingDown: () => boolean,
): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', false);
  app.use(createDataPlaneHandler({ match: createRouteMatcher(routes), log, metrics, isShuttingDown }));
  // Last resort: never an HTML page or a stack trace.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    log.error({ err }, 'unhandled error in the data plane');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const rendered = renderError(errorShapeForPath(req.path), new GatewayError('INTERNAL', 500, 'internal gateway error'));
    res.status(rendered.status).set(rendered.headers).send(rendered.body);
  });
  return app;
}
