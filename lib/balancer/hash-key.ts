// The chash key of a request, with APISIX's `hash_on` / `key` semantics (apisix/balancer/chash.lua,
// fetch_chash_hash_key): a missing value falls back to the client address. The configured source is
// parsed once into a reader; a request only runs the reader.
import type { HashOn } from '../config/types.ts';

type HeaderMap = Readonly<Record<string, string | string[] | undefined>>;

/** What the extractor needs from a request; `path` excludes the query string. */
export interface HashRequest {
  path: string;
  query: URLSearchParams | HeaderMap;
  headers: HeaderMap;
  remoteAddr: string;
  consumer?: string;
  host?: string;
  method?: string;
}

/** Always returns a key: the configured source, or `remoteAddr` when that source is missing or empty. */
export type HashKeyExtractor = (req: HashRequest) => string;

type VarReader = (req: HashRequest) => string | undefined;

export function createHashKeyExtractor(hashOn: HashOn, key: string): HashKeyExtractor {
  if (hashOn === 'vars_combinations') return combinationsExtractor(key);
  const read = readerFor(hashOn, key);
  return (req) => nonEmpty(read(req)) ?? req.remoteAddr;
}

function readerFor(hashOn: Exclude<HashOn, 'vars_combinations'>, key: string): VarReader {
  switch (hashOn) {
    case 'vars':
      return varReader(key);
    case 'header':
      return headerReader(key);
    case 'cookie':
      return cookieReader(key);
    case 'consumer':
      return (req) => req.consumer;
  }
}

// `$remote_addr$arg_user` or `${host}-x`: each variable expanded, unknown or missing ones to "".
// Like APISIX, when no variable resolved at all the key falls back to remote_addr.
function combinationsExtractor(template: string): HashKeyExtractor {
  const literals: string[] = [];
  const readers: VarReader[] = [];
  const pattern = /(?<!\\)\$\{?(\w+)\}?/g;
  let last = 0;
  for (const m of template.matchAll(pattern)) {
    literals.push(template.slice(last, m.index));
    readers.push(varReader(m[1] as string));
    last = m.index + m[0].length;
  }
  const tail = template.slice(last);
  const count = readers.length;
  return (req) => {
    let resolved = 0;
    let out = '';
    for (let i = 0; i < count; i++) {
      out += literals[i] as string;
      const v = nonEmpty((readers[i] as VarReader)(req));
      if (v !== undefined) {
        resolved++;
        out += v;
      }
    }
    return resolved === 0 ? req.remoteAddr : out + tail;
  };
}

/** nginx variable names, as APISIX's ctx.var resolves them. Unknown names read as missing. */
function varReader(name: string): VarReader {
  switch (name) {
    case 'uri':
      return (req) => req.path;
    case 'request_uri':
      return (req) => {
        const qs = queryString(req.query);
        return qs === '' ? req.path : `${req.path}?${qs}`;
      };
    case 'args':
    case 'query_string':
      return (req) => queryString(req.query);
    case 'host':
      return hostOf;
    case 'remote_addr':
      return (req) => req.remoteAddr;
    case 'request_method':
      return (req) => req.method;
    case 'consumer_name':
      return (req) => req.consumer;
  }
  if (name.startsWith('arg_')) {
    const arg = name.slice(4);
    return (req) => queryValue(req.query, arg);
  }
  if (name.startsWith('http_')) return headerReader(name.slice(5));
  if (name.startsWith('cookie_')) return cookieReader(name.slice(7));
  return () => undefined;
}

// nginx matches `$http_x_user_id` to the header `X-User-Id`: case-insensitive, '-' and '_' alike.
// Repeated headers arrive as arrays; they are joined the way Node joins them (`; ` for Cookie).
function headerReader(headerName: string, separator = ', '): VarReader {
  const normalized = headerName.toLowerCase().replaceAll('-', '_');
  const dashed = normalized.replaceAll('_', '-');
  return (req) => {
    const direct = req.headers[dashed];
    if (direct !== undefined) return joinHeader(direct, separator);
    for (const k in req.headers) {
      if (sameHeaderName(k, normalized)) {
        const v = req.headers[k];
        if (v !== undefined) return joinHeader(v, separator);
      }
    }
    return undefined;
  };
}

function cookieReader(cookieName: string): VarReader {
  const readCookieHeader = headerReader('cookie', '; ');
  return (req) => {
    const header = readCookieHeader(req);
    return header === undefined ? undefined : cookieValue(header, cookieName);
  };
}

/** One cookie from a Cookie header, found without parsing the others. Names are case-sensitive. */
export function cookieValue(header: string, name: string): string | undefined {
  const len = header.length;
  let start = 0;
  while (start < len) {
    let end = header.indexOf(';', start);
    if (end < 0) end = len;
    let s = start;
    while (s < end && (header.charCodeAt(s) === 0x20 || header.charCodeAt(s) === 0x09)) s++;
    if (header.startsWith(name, s) && header.charCodeAt(s + name.length) === 0x3d /* = */) {
      const raw = header.slice(s + name.length + 1, end).trim();
      return raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
    }
    start = end + 1;
  }
  return undefined;
}

function sameHeaderName(candidate: string, normalized: string): boolean {
  if (candidate.length !== normalized.length) return false;
  for (let i = 0; i < candidate.length; i++) {
    let c = candidate.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    else if (c === 0x2d) c = 0x5f;
    if (c !== normalized.charCodeAt(i)) return false;
  }
  return true;
}

const readHostHeader = headerReader('host');
function hostOf(req: HashRequest): string | undefined {
  const raw = req.host ?? readHostHeader(req);
  if (raw === undefined) return undefined;
  // nginx's $host has no port and is lowercase; keep IPv6 brackets.
  const end = raw.startsWith('[') ? raw.indexOf(']') + 1 : raw.indexOf(':');
  return (end > 0 ? raw.slice(0, end) : raw).toLowerCase();
}

function queryValue(query: HashRequest['query'], name: string): string | undefined {
  if (query instanceof URLSearchParams) return query.get(name) ?? undefined;
  const v = query[name];
  return Array.isArray(v) ? v[0] : v;
}

function queryString(query: HashRequest['query']): string {
  if (query instanceof URLSearchParams) return query.toString();
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (Array.isArray(v)) for (const item of v) params.append(k, item);
    else if (v !== undefined) params.append(k, v);
  }
  return params.toString();
}

function joinHeader(v: string | string[], sep: string): string {
  return typeof v === 'string' ? v : v.join(sep);
}

// An empty value would pin every such client to one member; treat it as missing instead.
function nonEmpty(v: string | undefined): string | undefined {
  return v === '' ? undefined : v;
}
