// `GET …/models` and `GET …/models/{id}` answered from the configuration: SDKs, chat UIs and IDE
// plugins ask for the model list first, and the route's instances already say which models they serve.
// Nothing goes upstream. Wire shapes: docs/protocols.md#models-list.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { PluginConfig, RouteConfig } from '../config/types.ts';
import { GatewayError } from '../errors.ts';
import type { AccessRecord } from '../observe/access-log.ts';
import { logAccess, roundMs } from '../observe/access-log.ts';
import type { Logger } from '../observe/logger.ts';
import type { Metrics } from '../observe/metrics.ts';
import { renderError } from '../protocols/render-error.ts';
import { clientAddress } from './listener.ts';

export interface ServedModel {
  id: string;
  /** The provider of the first instance that serves it. */
  ownedBy: string;
}

export interface ModelsCatalog {
  /** De-duplicated, in instance order. */
  models: readonly ServedModel[];
  byId: ReadonlyMap<string, ServedModel>;
  /** Unix seconds, the same for every model and every call while this configuration is loaded. */
  created: number;
}

/** A models request: the list, or the one model `id` (percent-decoded). */
export interface ModelsQuery {
  id?: string;
}

export type ModelsShape = 'openai' | 'anthropic';

export interface ModelsAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  error?: GatewayError;
}

// The first `/models` segment that ends the path or is followed by an id; the id may hold slashes
// (`openrouter`'s `meta-llama/llama-3-70b`, sent raw by some clients).
const MODELS_PATH = /\/models(?:\/(.+))?$/;
// Anthropic's list API: `limit` 1–1000, default 20.
const ANTHROPIC_PAGE = { default: 20, max: 1000 };
const ECHOED_ID_MAX = 200;

/** The models request `path` asks for, when this route answers it from the configuration. */
export function modelsRequest(method: string | undefined, path: string, plugin: PluginConfig): ModelsQuery | undefined {
  if ((method !== 'GET' && method !== 'HEAD') || plugin.models_list !== 'config') return undefined;
  const match = MODELS_PATH.exec(path);
  if (!match) return undefined;
  const raw = match[1];
  if (raw === undefined) return {};
  try {
    return { id: decodeURIComponent(raw) };
  } catch {
    return { id: raw }; // an escape that is not UTF-8 names no configured model: 404 below
  }
}

/** Every model the plugin's instances serve: `options.model`, then the instance's `models`. */
export function buildCatalog(plugin: PluginConfig, created: number): ModelsCatalog {
  const byId = new Map<string, ServedModel>();
  for (const instance of plugin.instances) {
    const forced = instance.options['model'];
    const ids = typeof forced === 'string' && forced !== '' ? [forced, ...instance.models] : instance.models;
    for (const id of ids) if (!byId.has(id)) byId.set(id, { id, ownedBy: instance.provider });
  }
  return { models: [...byId.values()], byId, created };
}

// One catalog per loaded configuration: a reload brings new plugin objects, hence a new catalog.
const catalogs = new WeakMap<PluginConfig, ModelsCatalog>();

function catalogFor(plugin: PluginConfig): ModelsCatalog {
  let catalog = catalogs.get(plugin);
  if (!catalog) {
    catalog = buildCatalog(plugin, Math.floor(Date.now() / 1000));
    catalogs.set(plugin, catalog);
  }
  return catalog;
}

function openaiModel(m: ServedModel, created: number): object {
  return { id: m.id, object: 'model', created, owned_by: m.ownedBy };
}

// The gateway knows no capabilities or token limits: the SDK's nullable fields are null, not absent.
function anthropicModel(m: ServedModel, createdAt: string): object {
  return {
    type: 'model',
    id: m.id,
    display_name: m.id,
    created_at: createdAt,
    capabilities: null,
    deprecated_at: null,
    lifecycle: 'active',
    line: null,
    max_input_tokens: null,
    max_tokens: null,
    retires_at: null,
  };
}

/** Anthropic's cursor pagination (`limit`, `after_id`, `before_id`); an unknown cursor gives an empty page. */
function anthropicPage(models: readonly ServedModel[], search: string): { page: readonly ServedModel[]; hasMore: boolean } {
  const params = new URLSearchParams(search);
  const limitText = params.get('limit');
  const limit = limitText === null ? ANTHROPIC_PAGE.default : Number(limitText);
  if (limitText === '' || !Number.isInteger(limit) || limit < 1 || limit > ANTHROPIC_PAGE.max) {
    throw new GatewayError('INVALID_QUERY', 400, `limit: must be an integer from 1 to ${ANTHROPIC_PAGE.max}`);
  }
  const before = params.get('before_id');
  const after = params.get('after_id');
  const at = (id: string): number => models.findIndex((m) => m.id === id);
  if (before !== null) {
    const end = at(before);
    if (end === -1) return { page: [], hasMore: false };
    const start = Math.max(0, end - limit);
    return { page: models.slice(start, end), hasMore: start > 0 };
  }
  const start = after === null ? 0 : at(after) + 1;
  if (start === 0 && after !== null) return { page: [], hasMore: false };
  return { page: models.slice(start, start + limit), hasMore: start + limit < models.length };
}

function notFound(id: string): GatewayError {
  const shown = id.length > ECHOED_ID_MAX ? `${id.slice(0, ECHOED_ID_MAX)}…` : id;
  return new GatewayError('MODEL_NOT_FOUND', 404, `The model '${shown}' does not exist`);
}

/** The answer to a models request in `shape`; `search` is the query string without its `?`. */
export function renderModels(catalog: ModelsCatalog, query: ModelsQuery, shape: ModelsShape, search = ''): ModelsAnswer {
  try {
    let body: object;
    if (query.id !== undefined) {
      const model = catalog.byId.get(query.id);
      if (!model) throw notFound(query.id);
      body = shape === 'anthropic' ? anthropicModel(model, isoTime(catalog.created)) : openaiModel(model, catalog.created);
    } else if (shape === 'anthropic') {
      const { page, hasMore } = anthropicPage(catalog.models, search);
      const createdAt = isoTime(catalog.created);
      body = {
        data: page.map((m) => anthropicModel(m, createdAt)),
        has_more: hasMore,
        first_id: page[0]?.id ?? null,
        last_id: page.at(-1)?.id ?? null,
      };
    } else {
      body = { object: 'list', data: catalog.models.map((m) => openaiModel(m, catalog.created)) };
    }
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    return { ...renderError(shape, err), error: err };
  }
}

function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

export interface ModelsContext {
  req: IncomingMessage;
  res: ServerResponse;
  route: RouteConfig;
  /** The request target: path and query. */
  url: string;
  log: Logger;
  metrics: Metrics;
  /** `performance.now()` when the request arrived. */
  started: number;
}

/** Answers a models request (the client's SDK decides the shape) and logs it as one `ai_models` request. */
export function answerModels(query: ModelsQuery, ctx: ModelsContext): void {
  const { req, res } = ctx;
  req.resume(); // a GET has no body to speak of: whatever came is drained, not read
  const shape: ModelsShape = req.headers['anthropic-version'] === undefined ? 'openai' : 'anthropic';
  const q = ctx.url.indexOf('?');
  const answer = renderModels(catalogFor(ctx.route.plugin), query, shape, q === -1 ? '' : ctx.url.slice(q + 1));
  if (!res.headersSent && !res.destroyed) {
    res.writeHead(answer.status, { ...answer.headers, 'content-length': String(Buffer.byteLength(answer.body)) });
    res.end(req.method === 'HEAD' ? undefined : answer.body);
  }
  const record: AccessRecord = {
    route: ctx.route.id,
    method: req.method ?? 'GET',
    path: q === -1 ? ctx.url : ctx.url.slice(0, q),
    client_ip: clientAddress(req),
    status: answer.status,
    request_type: 'ai_models',
    client_protocol: `${shape}-models`,
    ...(query.id !== undefined && { request_llm_model: query.id }),
    attempts: [],
    fallbacks: 0,
    duration_ms: roundMs(performance.now() - ctx.started),
    ...(answer.error && { error: answer.error.message }),
  };
  logAccess(ctx.log, record);
  ctx.metrics.observe(record);
}
