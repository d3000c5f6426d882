// Which route serves a request: by uri, Host, method and the route's `vars`, in `priority` order. A
// request whose deciding `vars` read the body (`post_arg.*`) is answered `needs_body`: the caller reads
// and parses the body once and finishes the match with it, before anything else looks at the body.
import type { RequestVars } from '../balancer/request-vars.ts';
import type { RouteRuntime } from '../pipeline/route-runtime.ts';
import type { VarsPredicate } from './vars-predicate.ts';
import { BODY_UNREAD, compileVarsPredicate } from './vars-predicate.ts';

/** What routes are matched on: the request variables, its method and its Host. */
export type RouteRequest = RequestVars & { method: string };

export type RouteMatch =
  | { kind: 'route'; route: RouteRuntime }
  /**
   * A candidate's `vars` read the body: read it (up to `maxBodySize`, the largest limit among the
   * candidates), parse it once, and `resolve` with the parsed value; undefined = no route (404).
   */
  | { kind: 'needs_body'; maxBodySize: number; resolve(body: unknown): RouteRuntime | undefined }
  | { kind: 'not_found' }
  | { kind: 'method_not_allowed'; allow: string[] };

export type RouteMatcher = (req: RouteRequest) => RouteMatch;

interface Candidate {
  route: RouteRuntime;
  vars: VarsPredicate | undefined;
  priority: number;
  /** -1 for an exact uri, else the prefix length; then the route's place in the config. */
  prefixLength: number;
  order: number;
}

function hostAllowed(route: RouteRuntime, host: string | undefined): boolean {
  const hosts = route.config.hosts;
  if (hosts.length === 0) return true;
  const bare = (host ?? '').toLowerCase().replace(/:\d+$/, '');
  // `*.example.com` (APISIX) matches any subdomain of example.com, not example.com itself.
  return hosts.some((h) => (h.startsWith('*.') ? bare.endsWith(h.slice(1)) && bare.length > h.length - 1 : h === bare));
}

// Highest `priority` first, then the most specific uri (exact, then the longest prefix), then config order.
function precedence(a: Candidate, b: Candidate): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  if (a.prefixLength !== b.prefixLength) return a.prefixLength === -1 ? -1 : b.prefixLength === -1 ? 1 : b.prefixLength - a.prefixLength;
  return a.order - b.order;
}

/** Candidates in precedence order, computed once per config: every exact uri gets its whole list. */
export function createRouteMatcher(routes: readonly RouteRuntime[]): RouteMatcher {
  // `uri`: the exact path, or the prefix without its `*`.
  const exact: Array<Candidate & { uri: string }> = [];
  const prefixes: Array<Candidate & { uri: string }> = [];
  routes.forEach((route, order) => {
    const vars = route.config.vars ? compileVarsPredicate(route.config.vars) : undefined;
    const base = { route, vars, priority: route.config.priority, order };
    for (const uri of route.config.exact) exact.push({ ...base, prefixLength: -1, uri });
    for (const uri of route.config.prefixes) prefixes.push({ ...base, prefixLength: uri.length, uri });
  });
  prefixes.sort(precedence);
  const byPath = new Map<string, Candidate[]>();
  for (const { uri } of exact) {
    if (byPath.has(uri)) continue;
    const list = [...exact.filter((c) => c.uri === uri), ...prefixes.filter((p) => uri.startsWith(p.uri))];
    byPath.set(uri, list.sort(precedence));
  }
  return (req) => matchIn(byPath.get(req.path) ?? prefixes.filter((p) => req.path.startsWith(p.uri)), req);
}

function matchIn(candidates: readonly Candidate[], req: RouteRequest): RouteMatch {
  let allow: Set<string> | undefined;
  let hostMatched = false;
  let methodMatched = false;
  let pending: Candidate[] | undefined;
  for (const candidate of candidates) {
    const { route, vars } = candidate;
    if (!hostAllowed(route, req.host)) continue;
    hostMatched = true;
    const methods = route.config.methods;
    if (methods.length > 0 && !methods.includes(req.method)) {
      allow ??= new Set();
      for (const m of methods) allow.add(m);
      continue;
    }
    methodMatched = true;
    const held = vars === undefined ? true : vars(req, BODY_UNREAD);
    if (held === false) continue;
    if (held === true && pending === undefined) return { kind: 'route', route };
    // Undecided until the body is read; a later candidate that surely matches ends the list.
    (pending ??= []).push(candidate);
    if (held === true) break;
  }
  if (pending) return needsBody(pending, req);
  if (methodMatched || !hostMatched || allow === undefined) return { kind: 'not_found' };
  return { kind: 'method_not_allowed', allow: [...allow] };
}

function needsBody(pending: readonly Candidate[], req: RouteRequest): RouteMatch {
  let maxBodySize = 0;
  for (const c of pending) maxBodySize = Math.max(maxBodySize, c.route.config.plugin.max_req_body_size);
  return {
    kind: 'needs_body',
    maxBodySize,
    resolve: (body) => pending.find((c) => c.vars === undefined || c.vars(req, body) === true)?.route,
  };
}
