import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Request, Response } from 'express';
import type { ConsumerConfig } from '../config/types.ts';
import type { ConsumerRegistry, Identity } from '../consumers/consumer-registry.ts';
import { ConsumerAuthError, GatewayError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { Metrics } from '../observe/metrics.ts';
import { handleRequest } from '../pipeline/handle-request.ts';
import { handlePassthrough } from '../pipeline/passthrough.ts';
import type { PassthroughBody } from '../pipeline/passthrough.ts';
import type { RouteRuntime } from '../pipeline/route-runtime.ts';
import type { ClientProtocol, ErrorShape } from '../protocols/client-protocol.ts';
import { clientProtocol, detectProtocol, endpointProtocol, errorShapeForPath, isPassthroughEndpoint } from '../protocols/detect.ts';
import { renderError } from '../protocols/render-error.ts';
import type { JsonObject } from '../protocols/types.ts';
import { isJsonObject } from '../protocols/types.ts';
import { validateRequestBody } from '../protocols/validate-request.ts';
import type { PassthroughProxy } from '../transport/passthrough-proxy.ts';
import { clientAddress } from './listener.ts';
import { answerModels, modelsRequest } from './models-list.ts';
import type { JsonLimits } from './parse-json-body.ts';
import { parseJsonBody } from './parse-json-body.ts';
import { readPassthroughBody } from './passthrough-body.ts';
import { bodyTooLarge, isJsonContentType, readRequestBody } from './read-body.ts';
import { guardRequestTarget } from './request-guard.ts';
import type { RouteMatch, RouteMatcher, RouteRequest } from './route-matcher.ts';

export interface DataPlaneOptions {
  match: RouteMatcher;
  log: Logger;
  metrics: Metrics;
  isShuttingDown: () => boolean;
  /** Bounds on every JSON request body (`server.max_json_depth`, `server.max_json_array_length`). */
  jsonLimits: JsonLimits;
  /** Pass-through of the requests the gateway does not speak. */
  proxy: PassthroughProxy;
  /** The consumers of the configuration now serving (a reload replaces them). */
  consumers?: () => ConsumerRegistry;
}

const ANONYMOUS: Identity = { kind: 'anonymous' };

/** The consumer a route serves this request for, or a 401 as its `auth` says. */
function authorize(route: RouteRuntime, identity: Identity): ConsumerConfig | undefined {
  const mode = route.config.auth;
  if (mode === 'none') return undefined;
  if (identity.kind === 'unknown') throw new ConsumerAuthError('CONSUMER_KEY_UNKNOWN');
  if (identity.kind === 'anonymous') {
    if (mode === 'required') throw new ConsumerAuthError('CONSUMER_KEY_MISSING');
    return undefined;
  }
  return identity.consumer;
}

let sequence = 0;
const bootId = Date.now().toString(36);
// A client's own id is kept when it is a plain token: it reaches logs and the provider's headers.
const CLIENT_REQUEST_ID = /^[\w.:@=+/-]{1,128}$/;

function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && CLIENT_REQUEST_ID.test(header) ? header : `${bootId}-${++sequence}`;
}

function sendError(res: ServerResponse, shape: ErrorShape, err: GatewayError): void {
  if (res.headersSent || res.destroyed) return;
  const rendered = renderError(shape, err);
  res.writeHead(rendered.status, { ...rendered.headers, 'content-length': String(Buffer.byteLength(rendered.body)) });
  res.end(rendered.body);
}

/** Classify and check the parsed body: what the gateway does not understand goes no further. */
function understand(path: string, body: unknown): { body: JsonObject; protocol: ClientProtocol } {
  if (!isJsonObject(body)) throw new GatewayError('PROTOCOL_NOT_DETECTED', 400, 'request body must be a JSON object');
  const name = detectProtocol(path, body);
  validateRequestBody(name, body);
  return { body, protocol: clientProtocol(name) };
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Pass-through (any method, any body, forwarded as it is) unless the request is one the gateway
 * speaks: a body-carrying method on a supported protocol's endpoint, or a JSON body on a path that is
 * not a known provider endpoint (APISIX `/anything` routes, where the body decides).
 */
function passesThrough(method: string, path: string, contentType: string | undefined): boolean {
  if (!BODY_METHODS.has(method)) return true;
  if (endpointProtocol(path) !== undefined) return false;
  if (isPassthroughEndpoint(path)) return true;
  return !isJsonContentType(contentType);
}

/** Finishes a match that waited for the body: 404 when no candidate's `vars` hold, 413 above the chosen route's limit. */
function routeForBody(matched: Extract<RouteMatch, { kind: 'needs_body' }>, body: unknown, size: number, path: string): RouteRuntime {
  const route = matched.resolve(body);
  if (!route) throw new GatewayError('ROUTE_NOT_FOUND', 404, `no route for ${path}`);
  if (size > route.config.plugin.max_req_body_size) throw bodyTooLarge(route.config.plugin.max_req_body_size);
  return route;
}

/** The Express handler for every data-plane request: target → route → body → protocol → pipeline. */
export function createDataPlaneHandler(opts: DataPlaneOptions) {
  return async (req: Request, res: Response): Promise<void> => {
    const started = performance.now();
    const url = req.originalUrl;
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const shape = errorShapeForPath(path);
    const reqId = requestIdOf(req.headers['x-request-id']);
    // Every answer says which request it was, errors included; the same id is in the access log and
    // goes upstream as x-request-id.
    res.setHeader('x-ai-proxy-request-id', reqId);
    try {
      guardRequestTarget(url);
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      req.resume();
      sendError(res, shape, err);
      return;
    }
    // `Connection` is an HTTP/1 header: HTTP/2 refuses it (its sessions get GOAWAY on shutdown instead).
    const http1 = req.httpVersionMajor < 2;
    if (opts.isShuttingDown() && http1) res.setHeader('connection', 'close');
    const authority = req.headers[':authority'];
    const host = req.headers.host ?? (typeof authority === 'string' ? authority : undefined);
    let query: URLSearchParams | undefined;
    // What route `vars` and a chash key read.
    const vars: RouteRequest = {
      path,
      // Parsed only if a rule or key asks for an `arg_*`.
      get query() {
        return (query ??= new URLSearchParams(q === -1 ? '' : url.slice(q + 1)));
      },
      headers: req.headers,
      remoteAddr: clientAddress(req),
      host,
      method: req.method,
    };
    // Known before matching: route `vars` may read $consumer_name. The key itself goes no further.
    const identity = opts.consumers?.().identify(req.headers) ?? ANONYMOUS;
    if (identity.kind === 'consumer') vars.consumer = identity.consumer.name;
    let consumer: ConsumerConfig | undefined;
    const admit = (route: RouteRuntime): boolean => {
      try {
        consumer = authorize(route, identity);
      } catch (err) {
        if (!(err instanceof GatewayError)) throw err;
        // Who tried, never with what: the key is not logged.
        opts.log.info({ reqId, route: route.config.id, client_ip: vars.remoteAddr, code: err.code }, `request refused with 401: ${err.message}`);
        req.resume();
        sendError(res, shape, err);
        return false;
      }
      // A route that ignores keys serves nobody in particular: no consumer for its chash key either.
      if (!consumer) delete vars.consumer;
      return true;
    };

    const matched = opts.match(vars);
    if (matched.kind === 'not_found' || matched.kind === 'method_not_allowed') {
      const err =
        matched.kind === 'not_found'
          ? new GatewayError('ROUTE_NOT_FOUND', 404, `no route for ${path}`)
          : new GatewayError('METHOD_NOT_ALLOWED', 405, `method ${req.method} is not allowed on ${path}`, {
              headers: { allow: matched.allow.join(', ') },
            });
      req.resume();
      sendError(res, shape, err);
      return;
    }
    if (passesThrough(req.method, path, req.headers['content-type'])) {
      // No JSON body to read: `post_arg` rules read as missing when they decide the route.
      const route = matched.kind === 'route' ? matched.route : matched.resolve(undefined);
      if (!route) {
        req.resume();
        sendError(res, shape, new GatewayError('ROUTE_NOT_FOUND', 404, `no route for ${path}`));
        return;
      }
      if (!admit(route)) return;
      const log = opts.log.child({ reqId, route: route.config.id });
      // GET/HEAD …/models[/{id}]: answered from the configuration, before any body is read.
      const models = modelsRequest(req.method, path, route.config.plugin);
      if (models) {
        answerModels(models, { req, res, route: route.config, url, log, metrics: opts.metrics, started });
        return;
      }
      const plugin = route.config.plugin;
      let body: PassthroughBody;
      try {
        body = await readPassthroughBody(req, Math.min(plugin.replay_body_size, plugin.max_req_body_size), plugin.max_req_body_size);
      } catch (err) {
        if (err instanceof GatewayError) {
          if (http1) res.setHeader('connection', 'close');
          sendError(res, shape, err);
        } else {
          res.destroy(); // the client went away while sending
        }
        return;
      }
      await handlePassthrough({
        reqId,
        req,
        res,
        route,
        pathAndQuery: url,
        hash: vars,
        ...(consumer ? { consumer } : {}),
        body,
        errorShape: shape,
        proxy: opts.proxy,
        log,
        metrics: opts.metrics,
        started,
      });
      return;
    }

    // Refused before its body is read when the route is already known.
    if (matched.kind === 'route' && !admit(matched.route)) return;
    let raw: Buffer;
    try {
      if (!isJsonContentType(req.headers['content-type'])) {
        req.resume();
        throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', 415, 'request body must be JSON (Content-Type: application/json)');
      }
      raw = await readRequestBody(req, matched.kind === 'route' ? matched.route.config.plugin.max_req_body_size : matched.maxBodySize);
    } catch (err) {
      if (err instanceof GatewayError) {
        if (err.code === 'BODY_TOO_LARGE' && http1) res.setHeader('connection', 'close');
        sendError(res, shape, err);
      } else {
        res.destroy(); // the client went away while sending
      }
      return;
    }

    let route: RouteRuntime;
    let body: JsonObject;
    let protocol: ClientProtocol;
    try {
      const parsed = parseJsonBody(raw, opts.jsonLimits);
      route = matched.kind === 'route' ? matched.route : routeForBody(matched, parsed, raw.length, path);
      ({ body, protocol } = understand(path, parsed));
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      sendError(res, shape, err);
      return;
    }
    if (matched.kind !== 'route' && !admit(route)) return;
    const log = opts.log.child({ reqId, route: route.config.id });
    await handleRequest({
      reqId,
      req,
      res,
      route,
      protocol,
      body,
      raw,
      pathAndQuery: url,
      hash: vars,
      ...(consumer ? { consumer } : {}),
      log,
      metrics: opts.metrics,
      started,
    });
  };
}
