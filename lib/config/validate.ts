// Every problem of a config file at once, each at the JSON pointer of the offending value, so a user
// fixes a file in one round instead of one error per start attempt.
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { ConfigProblem } from '../errors.ts';
import type { ProviderCatalog } from './catalog.ts';
import { buildConfigSchema, configDefaults } from './schema.ts';
import { keyDigest, normaliseInstance } from './normalise.ts';
import { compileRouteVars } from './route-vars.ts';
import type { RawInstance } from './normalise.ts';

type Json = Record<string, unknown>;

const compiled = new WeakMap<ProviderCatalog, ValidateFunction>();

function schemaValidator(catalog: ProviderCatalog): ValidateFunction {
  let validate = compiled.get(catalog);
  if (!validate) {
    const ajv = new Ajv({ allErrors: true, verbose: true, strictTypes: true, allowUnionTypes: true });
    ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' });
    validate = ajv.compile(buildConfigSchema(catalog.names));
    compiled.set(catalog, validate);
  }
  return validate;
}

/** Validates a parsed, env-substituted config file. An empty array means `normaliseConfig` may run. */
export function validateConfig(raw: unknown, catalog: ProviderCatalog): ConfigProblem[] {
  const validate = schemaValidator(catalog);
  const problems = validate(raw) ? [] : schemaProblems(validate.errors ?? []);
  problems.push(...semanticProblems(raw, new Set(catalog.protocolNames ?? [])));
  problems.push(...consumerProblems(raw));
  problems.push(...providerProblems(raw, problems, catalog));
  return inFileOrder(dedupe(problems));
}

function isJson(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

const within = (path: string, base: string): boolean => path === base || path.startsWith(`${base}/`);

// A failed oneOf/anyOf makes ajv report every branch. Keep the branch that got deepest into the value
// (the one the user meant); when none got past the value itself, say what the value may be instead.
function schemaProblems(errors: ErrorObject[]): ConfigProblem[] {
  const dropped = new Set<ErrorObject>();
  const replaced = new Map<ErrorObject, string>();
  for (const c of errors) {
    if (c.keyword !== 'oneOf' && c.keyword !== 'anyOf') continue;
    const children = errors.filter(
      (e) => e !== c && e.schemaPath.startsWith(`${c.schemaPath}/`) && within(e.instancePath, c.instancePath),
    );
    for (const e of children) dropped.add(e);
    const deeper = children.filter((e) => e.instancePath !== c.instancePath);
    const depth = (e: ErrorObject) => e.instancePath.split('/').length;
    const best = deeper.sort((x, y) => depth(y) - depth(x))[0];
    if (best) {
      const branch = best.schemaPath.slice(c.schemaPath.length).split('/')[1];
      for (const e of deeper) if (e.schemaPath.startsWith(`${c.schemaPath}/${branch}/`)) dropped.delete(e);
      dropped.add(c);
    } else {
      const custom = c.parentSchema?.['errorMessage'];
      const first = children.find((e) => e.keyword !== 'type') ?? children[0];
      replaced.set(c, typeof custom === 'string' ? custom : first ? describe(first).message : String(c.message));
    }
  }
  return errors
    .filter((e) => !dropped.has(e))
    .map((e) => {
      const message = replaced.get(e);
      return message === undefined ? describe(e) : { path: e.instancePath, message };
    });
}

const customisable = new Set(['enum', 'pattern', 'const', 'minProperties', 'maxProperties']);

function describe(e: ErrorObject): ConfigProblem {
  const at = e.instancePath;
  const custom = e.parentSchema?.['errorMessage'];
  if (typeof custom === 'string' && customisable.has(e.keyword)) return { path: at, message: custom };
  switch (e.keyword) {
    case 'required':
      return { path: `${at}/${String(e.params['missingProperty'])}`, message: 'is required' };
    case 'additionalProperties': {
      const name = String(e.params['additionalProperty']);
      const known = Object.keys(isJson(e.parentSchema?.['properties']) ? e.parentSchema['properties'] : {});
      const guess = closest(name, known);
      // A short list of what is allowed helps; a list of twenty does not.
      const listed = known.length > 0 && known.length <= 8 ? ` (allowed: ${known.join(', ')})` : '';
      const hint = guess ? ` (did you mean "${guess}"?)` : listed;
      return { path: `${at}/${escapePointer(name)}`, message: `unknown property "${name}"${hint}` };
    }
    case 'enum': {
      const allowed = e.params['allowedValues'];
      return { path: at, message: `must be one of: ${Array.isArray(allowed) ? allowed.join(', ') : ''}` };
    }
    case 'type': {
      const type = e.params['type'];
      return { path: at, message: `must be ${Array.isArray(type) ? type.join(' or ') : String(type)}` };
    }
    case 'uniqueItems':
      return { path: `${at}/${String(e.params['j'])}`, message: `duplicates item ${String(e.params['i'])}` };
    default:
      return { path: at, message: String(e.message) };
  }
}

/** The known name a typo was probably meant to be: edit distance at most 2 (1 for short names). */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = word.length <= 4 ? 2 : 3;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

const escapePointer = (key: string): string => key.replaceAll('~', '~0').replaceAll('/', '~1');

interface Target {
  /** The instance object, or the whole `ai-proxy` block. */
  raw: Json;
  path: string;
  fallbackName: string;
}

interface Plugin {
  kind: 'ai-proxy-multi' | 'ai-proxy';
  block: Json;
  path: string;
  targets: Target[];
}

// Tolerates any shape: the schema errors already explain wrong types, this only looks where it can.
function pluginsOf(raw: unknown): Array<{ route: Json; path: string; plugin?: Plugin }> {
  const routes = isJson(raw) && Array.isArray(raw['routes']) ? raw['routes'] : [];
  return routes.flatMap((route: unknown, i) => {
    if (!isJson(route)) return [];
    const path = `/routes/${i}`;
    const plugins = isJson(route['plugins']) ? route['plugins'] : {};
    const kind = isJson(plugins['ai-proxy-multi']) ? 'ai-proxy-multi' : isJson(plugins['ai-proxy']) ? 'ai-proxy' : undefined;
    const block = kind && plugins[kind];
    if (!kind || !isJson(block)) return [{ route, path }];
    const at = `${path}/plugins/${kind}`;
    const instances = kind === 'ai-proxy' ? [block] : Array.isArray(block['instances']) ? block['instances'] : [];
    const targets = instances.flatMap((inst: unknown, j): Target[] => {
      if (!isJson(inst)) return [];
      const instPath = kind === 'ai-proxy' ? at : `${at}/instances/${j}`;
      return [{ raw: inst, path: instPath, fallbackName: String(inst['provider']) }];
    });
    return [{ route, path, plugin: { kind, block, path: at, targets } }];
  });
}

function semanticProblems(raw: unknown, protocolNames: ReadonlySet<string>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const routeIds = new Map<string, string>();
  for (const { route, path, plugin } of pluginsOf(raw)) {
    const id = route['id'];
    if (typeof id === 'string' || typeof id === 'number') {
      const first = routeIds.get(String(id));
      if (first) problems.push({ path: `${path}/id`, message: `"${id}" is already the id of ${first}` });
      else routeIds.set(String(id), path);
    }
    // The schema checks only that `vars` is an array; its expressions are checked here, each at its path.
    if (Array.isArray(route['vars'])) {
      for (const p of compileRouteVars(route['vars']).problems) problems.push({ path: `${path}/vars${p.path}`, message: p.message });
    }
    if (!plugin) continue;
    const balancer = plugin.block['balancer'];
    if (isJson(balancer) && balancer['algorithm'] === 'chash' && !balancer['key']) {
      const hashOn = balancer['hash_on'];
      if (hashOn === 'header' || hashOn === 'cookie' || hashOn === 'vars_combinations') {
        problems.push({ path: `${plugin.path}/balancer/key`, message: `is required when hash_on is "${hashOn}"` });
      }
    }
    if (isJson(balancer) && balancer['algorithm'] === 'semantic') problems.push(...semanticOptsProblems(plugin));
    const names = new Map<string, string>();
    for (const target of plugin.targets) {
      const name = target.raw['name'];
      if (plugin.kind === 'ai-proxy-multi' && typeof name === 'string') {
        const first = names.get(name);
        if (first) problems.push({ path: `${target.path}/name`, message: `"${name}" is already the name of ${first}` });
        else names.set(name, target.path);
      }
      const override = target.raw['override'];
      const endpoint = isJson(override) ? override['endpoint'] : undefined;
      if (typeof endpoint === 'string' && /^https?:\/\/[^/?#\s]+/.test(endpoint) && !URL.canParse(endpoint)) {
        problems.push({ path: `${target.path}/override/endpoint`, message: 'is not a valid URL' });
      }
      const requestBody = isJson(override) ? override['request_body'] : undefined;
      if (isJson(requestBody)) problems.push(...requestBodyProblems(requestBody, `${target.path}/override/request_body`, protocolNames));
    }
  }
  return problems;
}

// Semantic balancing: what the schema cannot say. `fallback` names an instance of the route, Azure
// has no default embeddings URL, and at least one instance has examples to be chosen by.
function semanticOptsProblems(plugin: Plugin): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const opts = plugin.block['semantic_opts'];
  if (opts === undefined) return [{ path: `${plugin.path}/semantic_opts`, message: 'is required when balancer.algorithm is "semantic"' }];
  if (!isJson(opts)) return problems;
  const names = new Set(plugin.targets.map((t) => t.raw['name']));
  const fallback = opts['fallback'];
  if (typeof fallback === 'string' && !names.has(fallback)) {
    problems.push({ path: `${plugin.path}/semantic_opts/fallback`, message: `"${fallback}" is not the name of an instance of this route` });
  }
  const embeddings = opts['embeddings'];
  if (isJson(embeddings) && embeddings['provider'] === 'azure-openai' && embeddings['endpoint'] === undefined) {
    problems.push({ path: `${plugin.path}/semantic_opts/embeddings/endpoint`, message: 'is required for azure-openai (its URL names the deployment)' });
  }
  if (!plugin.targets.some((t) => Array.isArray(t.raw['examples']))) {
    problems.push({ path: `${plugin.path}/instances`, message: 'balancer.algorithm "semantic" needs at least one instance with examples' });
  }
  return problems;
}

// Names and keys must each name one consumer; routes must be able to find the consumers and instances
// they refer to. A key is never echoed in a problem: the message names the consumer that holds it.
function consumerProblems(raw: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const consumers = isJson(raw) && Array.isArray(raw['consumers']) ? raw['consumers'] : [];
  const names = new Map<string, string>();
  const digests = new Map<string, string>();
  consumers.forEach((c: unknown, i) => {
    if (!isJson(c)) return;
    const path = `/consumers/${i}`;
    const name = c['name'];
    if (typeof name === 'string') {
      const first = names.get(name);
      if (first) problems.push({ path: `${path}/name`, message: `"${name}" is already the name of ${first}` });
      else names.set(name, path);
    }
    const keys = Array.isArray(c['keys']) ? c['keys'] : [];
    keys.forEach((key: unknown, j) => {
      if (typeof key !== 'string') return;
      if (key.startsWith('sha256:') && !/^sha256:[0-9a-fA-F]{64}$/.test(key)) {
        problems.push({ path: `${path}/keys/${j}`, message: 'must be "sha256:" followed by 64 hex digits' });
        return;
      }
      const digest = keyDigest(key);
      const first = digests.get(digest);
      if (first !== undefined && first !== path) problems.push({ path: `${path}/keys/${j}`, message: `is already a key of ${first}` });
      else digests.set(digest, path);
    });
  });
  for (const { route, path, plugin } of pluginsOf(raw)) {
    if (route['auth'] === 'required' && consumers.length === 0) {
      problems.push({ path: `${path}/auth`, message: 'is "required" but no consumers are configured: every request would be refused' });
    }
    if ((route['auth'] === 'required' || route['auth'] === 'optional') && plugin?.block['forward_client_credentials'] === true) {
      problems.push({ path: `${path}/auth`, message: `is "${route['auth']}" but the route forwards client credentials: consumer keys would reach the provider` });
    }
    const plugins = isJson(route['plugins']) ? route['plugins'] : {};
    const limiting = plugins['ai-rate-limiting'];
    if (!isJson(limiting)) continue;
    const at = `${path}/plugins/ai-rate-limiting`;
    const instances = Array.isArray(limiting['instances']) ? limiting['instances'] : [];
    const rules = Array.isArray(limiting['rules']) ? limiting['rules'] : [];
    if (limiting['limit'] === undefined && instances.length === 0 && rules.length === 0) {
      problems.push({ path: at, message: 'needs "limit" with "time_window", "instances" or "rules"' });
    }
    const known = new Set(plugin?.targets.map((t) => (plugin.kind === 'ai-proxy' ? t.fallbackName : String(t.raw['name']))) ?? []);
    const seen = new Set<string>();
    instances.forEach((inst: unknown, j) => {
      const name = isJson(inst) ? inst['name'] : undefined;
      if (typeof name !== 'string') return;
      if (plugin && !known.has(name)) problems.push({ path: `${at}/instances/${j}/name`, message: `"${name}" is not an instance of this route` });
      else if (seen.has(name)) problems.push({ path: `${at}/instances/${j}/name`, message: `"${name}" already has a limit` });
      seen.add(name);
    });
  }
  return problems;
}

// `request_body` applies to every protocol, or (APISIX) is keyed by protocol name. A mix of both is
// refused: a misspelt protocol key would otherwise be merged into every body as a field.
function requestBodyProblems(requestBody: Json, path: string, protocolNames: ReadonlySet<string>): ConfigProblem[] {
  const keys = Object.keys(requestBody);
  const byProtocol = keys.filter((k) => protocolNames.has(k));
  if (byProtocol.length === 0) return [];
  const problems: ConfigProblem[] = [];
  for (const key of keys) {
    const at = `${path}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    if (!protocolNames.has(key)) {
      problems.push({ path: at, message: `is not a protocol name, but "${byProtocol[0]}" is: keyed by protocol, every key must be one of ${[...protocolNames].join(', ')}` });
    } else if (!isJson(requestBody[key])) {
      problems.push({ path: at, message: 'must be an object' });
    }
  }
  return problems;
}

// Provider hooks see a normalised instance, so they run only on instances that are otherwise valid.
const instanceKeys = ['name', 'provider', 'weight', 'priority', 'auth', 'options', 'override', 'provider_conf', 'checks', 'breaker'];

function providerProblems(raw: unknown, known: readonly ConfigProblem[], catalog: ProviderCatalog): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const { plugin } of pluginsOf(raw)) {
    for (const target of plugin?.targets ?? []) {
      const broken = known.some(
        (p) => p.path === target.path || instanceKeys.some((key) => within(p.path, `${target.path}/${key}`)),
      );
      if (broken) continue;
      // Safe: the schema accepted every instance field of this target.
      const instance = normaliseInstance(target.raw as unknown as RawInstance, target.fallbackName, configDefaults.breaker);
      for (const [relative, message] of catalog.validate(instance)) {
        problems.push({ path: `${target.path}/${relative}`, message });
      }
    }
  }
  return problems;
}

// Schema, semantic and provider problems are found in separate passes; list them route by route,
// instance by instance, as a user reads the file.
function inFileOrder(problems: ConfigProblem[]): ConfigProblem[] {
  const index = (path: string, segment: string) => Number(new RegExp(`/${segment}/(\\d+)`).exec(path)?.[1] ?? -1);
  const key = (p: ConfigProblem) => [index(p.path, 'routes'), index(p.path, 'instances')] as const;
  return problems.sort((x, y) => {
    const [a, b] = [key(x), key(y)];
    return a[0] - b[0] || a[1] - b[1];
  });
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\n${p.message}`;
    return seen.has(key) ? false : (seen.add(key), true);
  });
}
