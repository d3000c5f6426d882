import type { RouteRuntime } from '../pipeline/route-runtime.ts';

export type RouteMatch =
  | { kind: 'route'; route: RouteRuntime }
  | { kind: 'not_found' }
  | { kind: 'method_not_allowed'; allow: string[] };

function hostAllowed(route: RouteRuntime, host: string | undefined): boolean {
  const hosts = route.config.hosts;
  if (hosts.length === 0) return true;
  const bare = (host ?? '').toLowerCase().replace(/:\d+$/, '');
  // `*.example.com` (APISIX) matches any subdomain of example.com, not example.com itself.
  return hosts.some((h) => (h.startsWith('*.') ? bare.endsWith(h.slice(1)) && bare.length > h.length - 1 : h === bare));
}

/** Exact URIs first (config order), then the longest matching prefix (`/v1/*`). Built once per config. */
export function createRouteMatcher(routes: readonly RouteRuntime[]): (method: string, host: string | undefined, path: string) => RouteMatch {
  const exact = new Map<string, RouteRuntime[]>();
  const prefixes: Array<{ prefix: string; route: RouteRuntime }> = [];
  for (const route of routes) {
    for (const uri of route.config.exact) {
      const list = exact.get(uri) ?? [];
      list.push(route);
      exact.set(uri, list);
    }
    for (const prefix of route.config.prefixes) prefixes.push({ prefix, route });
  }
  prefixes.sort((a, b) => b.prefix.length - a.prefix.length);

  return (method, host, path) => {
    const candidates = [...(exact.get(path) ?? []), ...prefixes.filter((p) => path.startsWith(p.prefix)).map((p) => p.route)];
    const allow = new Set<string>();
    let hostMatched = false;
    for (const route of candidates) {
      if (!hostAllowed(route, host)) continue;
      hostMatched = true;
      const methods = route.config.methods;
      if (methods.length === 0 || methods.includes(method)) return { kind: 'route', route };
      for (const m of methods) allow.add(m);
    }
    return hostMatched ? { kind: 'method_not_allowed', allow: [...allow] } : { kind: 'not_found' };
  };
}
