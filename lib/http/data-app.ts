import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import express from 'express';
import type { Express, NextFunction, Request, Response } from 'express';
import { GatewayError } from '../errors.ts';
import type { ConsumerRegistry } from '../consumers/consumer-registry.ts';
import type { Logger } from '../observe/logger.ts';
import type { Metrics } from '../observe/metrics.ts';
import { errorShapeForPath } from '../protocols/detect.ts';
import { renderError } from '../protocols/render-error.ts';
import type { PassthroughProxy } from '../transport/passthrough-proxy.ts';
import { createDataPlaneHandler } from './data-plane.ts';
import type { JsonLimits } from './parse-json-body.ts';
import type { RouteMatcher } from './route-matcher.ts';

export interface DataPlane {
  /** HTTP/1.1 requests go through Express. */
  http1: Express;
  /** HTTP/2 requests (Bedrock's AWS SDK): Express cannot take HTTP/2 compat objects, so they go straight
   * to the data-plane handler, which uses only what both kinds of request and response offer. */
  http2: (req: Http2ServerRequest, res: Http2ServerResponse) => void;
}

export function createDataApp(
  match: RouteMatcher,
  log: Logger,
  metrics: Metrics,
  isShuttingDown: () => boolean,
  jsonLimits: JsonLimits,
  proxy: PassthroughProxy,
  consumers?: () => ConsumerRegistry,
): DataPlane {
  const handler = createDataPlaneHandler({ match, log, metrics, isShuttingDown, jsonLimits, proxy, ...(consumers ? { consumers } : {}) });
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', false);
  app.use(handler);
  // Last resort: never an HTML page or a stack trace.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    log.error({ err }, 'unhandled error in the data plane');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const rendered = renderError(errorShapeForPath(req.path), new GatewayError('INTERNAL_ERROR', 500, 'internal gateway error'));
    res.status(rendered.status).set(rendered.headers).send(rendered.body);
  });
  const http2 = (req: Http2ServerRequest, res: Http2ServerResponse): void => {
    const request = req as unknown as Request & { originalUrl: string };
    request.originalUrl = req.url;
    handler(request, res as unknown as Response).catch((err: unknown) => {
      log.error({ err }, 'unhandled error in the data plane (HTTP/2)');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const rendered = renderError(errorShapeForPath(req.url), new GatewayError('INTERNAL_ERROR', 500, 'internal gateway error'));
      res.writeHead(rendered.status, rendered.headers).end(rendered.body);
    });
  };
  return { http1: app, http2 };
}
