// One active probe (APISIX `checks.active`): an HTTP(S) request or a bare TCP connect, classified the way
// lua-resty-healthcheck does — a status, a timeout, or a connection failure. Each probe opens its own
// connection (transport/one-shot.ts) and destroys it before resolving.
import { connect } from 'node:net';
import { oneShot } from '../transport/one-shot.ts';
import type { ActiveCheckConfig } from '../config/types.ts';

export type ProbeResult =
  | { kind: 'http'; status: number }
  /** A `tcp` check connected. */
  | { kind: 'connected' }
  | { kind: 'timeout' }
  | { kind: 'tcp_failure'; code: string };

/** What probing needs of an instance; an `InstanceTarget` is one. */
export interface ProbeTarget {
  /** scheme://host[:port] of the instance. */
  origin: string;
  /** The instance's credentials, so a `GET /v1/models` probe is answered like a real call. */
  authHeaders: ReadonlyArray<readonly [string, string]>;
  /** The instance's `auth.query`, already encoded (`key=...`), or ''. */
  authQuery: string;
}

// Undici's own timeouts, for when they fire before ours (they should not: ours is the same length).
const timeoutCodes = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' ? code : 'ECONNFAILED';
}

/**
 * Where the probe goes. As in APISIX, `host` is the Host header (and TLS server name), not where to
 * connect; `port` replaces the instance's port. The scheme is the origin's, except that `type: https`
 * always means TLS and a `port` override follows `type` (another port is another listener). Copying
 * APISIX literally (`type` alone decides) would send plain HTTP to port 443 under the default `http`.
 */
function locate(target: ProbeTarget, check: ActiveCheckConfig): { origin: string; hostname: string; port: number } {
  const url = new URL(target.origin);
  const tls = check.type === 'https' || (check.port === undefined ? url.protocol === 'https:' : false);
  const scheme = check.type === 'tcp' ? url.protocol : tls ? 'https:' : 'http:';
  const sameScheme = scheme === url.protocol;
  const port = check.port ?? (sameScheme && url.port ? Number(url.port) : scheme === 'https:' ? 443 : 80);
  return { origin: `${scheme}//${url.hostname}:${port}`, hostname: url.hostname.replace(/^\[|\]$/g, ''), port };
}

function probeHeaders(target: ProbeTarget, check: ActiveCheckConfig): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of target.authHeaders) headers[name.toLowerCase()] = value;
  // `req_headers` are the operator's explicit probe settings, so they win over the instance's auth.
  for (const line of check.req_headers) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  if (check.host !== undefined) headers.host = check.host;
  // A JSON probe body (e.g. a tiny completion) is refused by providers without a JSON content type.
  const body = check.http_req_body?.trimStart();
  if (body && (body.startsWith('{') || body.startsWith('[')) && headers['content-type'] === undefined) {
    headers['content-type'] = 'application/json';
  }
  return headers;
}

async function httpProbe(target: ProbeTarget, check: ActiveCheckConfig, ms: number, signal: AbortSignal): Promise<ProbeResult> {
  const where = locate(target, check);
  const query = target.authQuery;
  const path = query ? check.http_path + (check.http_path.includes('?') ? '&' : '?') + query : check.http_path;
  // Only the status matters (as in APISIX); the body is dropped with the connection.
  const res = await oneShot(where.origin, {
    method: check.http_method,
    path,
    headers: probeHeaders(target, check),
    body: check.http_req_body ?? null,
    signal,
    timeoutMs: ms,
    rejectUnauthorized: check.https_verify_certificate,
    ...(check.host !== undefined ? { servername: check.host } : {}),
  });
  return { kind: 'http', status: res.status };
}

function tcpProbe(hostname: string, port: number, signal: AbortSignal): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port });
    let done = false;
    const finish = (settle: () => void): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      settle();
    };
    const onAbort = (): void => finish(() => reject(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('connect', () => finish(() => resolve({ kind: 'connected' })));
    socket.on('error', (err) => finish(() => resolve({ kind: 'tcp_failure', code: errorCode(err) })));
  });
}

/**
 * Runs one probe within `check.timeout` seconds. Resolves with the outcome; rejects only when `signal`
 * aborts it (the checker is stopping), with the signal's reason.
 */
export async function probeOnce(target: ProbeTarget, check: ActiveCheckConfig, signal?: AbortSignal): Promise<ProbeResult> {
  signal?.throwIfAborted();
  const ms = Math.max(1, Math.round(check.timeout * 1000));
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort(new Error('probe timeout'));
  }, ms);
  const forward = (): void => ac.abort(signal?.reason);
  signal?.addEventListener('abort', forward, { once: true });
  try {
    if (check.type === 'tcp') {
      const { hostname, port } = locate(target, check);
      return await tcpProbe(hostname, port, ac.signal);
    }
    return await httpProbe(target, check, ms, ac.signal);
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (timedOut || timeoutCodes.has(errorCode(err))) return { kind: 'timeout' };
    return { kind: 'tcp_failure', code: errorCode(err) };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', forward);
  }
}
