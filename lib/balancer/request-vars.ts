// Request variables by their nginx names, as APISIX's ctx.var resolves them (`uri`, `host`,
// `http_x_user_id`, `arg_user`, `cookie_session`...), shared by the chash key and route `vars`. A name
// is turned into a reader once, at config load; a request only runs the reader.

type HeaderMap = Readonly<Record<string, string | string[] | undefined>>;

/** What the readers need from a request; `path` excludes the query string. */
export interface RequestVars {
  path: string;
  query: URLSearchParams | HeaderMap;
  headers: HeaderMap;
  remoteAddr: string;
  consumer?: string;
  host?: string;
  method?: string;
}

export type VarReader = (req: RequestVars) => string | undefined;

/** nginx variable names, as APISIX's ctx.var resolves them. Unknown names read as missing. */
export function varReader(name: string): VarReader {
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
export function headerReader(headerName: string, separator = ', '): VarReader {
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

export function cookieReader(cookieName: string): VarReader {
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
function hostOf(req: RequestVars): string | undefined {
  const raw = req.host ?? readHostHeader(req);
  if (raw === undefined) return undefined;
  // nginx's $host has no port and is lowercase; keep IPv6 brackets.
  const end = raw.startsWith('[') ? raw.indexOf(']') + 1 : raw.indexOf(':');
  return (end > 0 ? raw.slice(0, end) : raw).toLowerCase();
}

function queryValue(query: RequestVars['query'], name: string): string | undefined {
  if (query instanceof URLSearchParams) return query.get(name) ?? undefined;
  const v = query[name];
  return Array.isArray(v) ? v[0] : v;
}

function queryString(query: RequestVars['query']): string {
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
