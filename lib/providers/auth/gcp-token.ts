import type { CryptoKey } from 'jose';
import { oneShot } from '../../transport/one-shot.ts';
import { GcpTokenError } from '../../errors.ts';

// Google service-account key → OAuth2 access token (docs/protocols.md#vertex-token-exchange): an RS256
// JWT assertion signed with the account's private key, exchanged at the token URI for a bearer token.
// Messages never carry the key, the assertion or a token: they end up in logs and client errors.

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
export const DEFAULT_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ASSERTION_LIFETIME_SECS = 3600; // Google's maximum
const MAX_DETAIL = 200;
// A token answer is a few hundred bytes; anything far larger is not one.
const MAX_TOKEN_ANSWER = 64 * 1024;

export interface GcpTokenSourceOptions {
  /** The service-account key file, as JSON text. */
  serviceAccountJson: string;
  /** Overrides the key file's `token_uri` (tests point it at a local fake). */
  tokenUrl?: string;
  /** Refresh this long before the token expires. */
  expireEarlySecs: number;
  /** Never reuse a token for longer than this, whatever `expires_in` says. */
  maxTtlSecs?: number;
  clock?: { now(): number };
  /** Bound on the token request (default 10 s). */
  timeoutMs?: number;
}

export interface GcpTokenSource {
  getToken(): Promise<string>;
  /** Forget the cached token (the provider answered 401), so the next call fetches a fresh one. */
  invalidate(): void;
  /** The tokens handed out lately (the cached one and its predecessor), for the secret scrubber. */
  recentTokens(): string[];
}

interface ServiceAccount {
  clientEmail: string;
  privateKey: string;
  privateKeyId: string | undefined;
  tokenUri: string | undefined;
}

function str(obj: Record<string, unknown>, key: string): string | undefined {
  const v = obj[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function parseServiceAccount(json: string): ServiceAccount {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    // The JSON parser's message quotes the text around the error, which may be part of the key.
    throw new GcpTokenError('the service account key is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new GcpTokenError('the service account key is not a JSON object');
  }
  const sa = parsed as Record<string, unknown>;
  const clientEmail = str(sa, 'client_email');
  const privateKey = str(sa, 'private_key');
  if (!clientEmail || !privateKey) throw new GcpTokenError('the service account key needs client_email and private_key');
  return { clientEmail, privateKey, privateKeyId: str(sa, 'private_key_id'), tokenUri: str(sa, 'token_uri') };
}

/** Google's `{"error":"invalid_grant","error_description":"..."}`, bounded; never echoes our request. */
function describeFailure(status: number, text: string): string {
  let detail = '';
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body === 'object' && body !== null) {
      const { error, error_description: description } = body as Record<string, unknown>;
      detail = [error, description].filter((x) => typeof x === 'string').join(': ');
    }
  } catch {
    detail = '';
  }
  if (detail.length > MAX_DETAIL) detail = `${detail.slice(0, MAX_DETAIL)}…`;
  return `token endpoint answered ${status}${detail ? ` (${detail})` : ''}`;
}

/** For config validation: what is wrong with a key file's JSON text, or undefined when it looks usable. */
export function serviceAccountProblem(json: string): string | undefined {
  try {
    parseServiceAccount(json);
    return undefined;
  } catch (err) {
    return err instanceof GcpTokenError ? err.message : 'the service account key is unusable';
  }
}

/**
 * Never throws: a broken key file makes every `getToken()` reject with a GcpTokenError, so one bad
 * instance fails over instead of stopping the gateway (validate with `serviceAccountProblem` first).
 */
export function createGcpTokenSource(opts: GcpTokenSourceOptions): GcpTokenSource {
  let sa: ServiceAccount;
  try {
    sa = parseServiceAccount(opts.serviceAccountJson);
  } catch (err) {
    const rejected = Promise.reject(err);
    rejected.catch(() => undefined); // reported to each caller, not as an unhandled rejection
    return { getToken: () => rejected, invalidate: () => undefined, recentTokens: () => [] };
  }
  const tokenUrl = opts.tokenUrl ?? sa.tokenUri ?? DEFAULT_TOKEN_URL;
  const clock = opts.clock ?? Date;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let key: Promise<CryptoKey> | undefined;
  let cached: { token: string; validUntil: number } | undefined;
  // An upstream may still echo the token it just refused, after it was dropped from the cache.
  let previous: string | undefined;
  let inFlight: Promise<string> | undefined;

  // jose is loaded with the first token, so a gateway without Vertex instances never loads it.
  const signingKey = (): Promise<CryptoKey> => {
    key ??= import('jose').then(({ importPKCS8 }) => importPKCS8(sa.privateKey, 'RS256')).catch(() => {
      key = undefined;
      throw new GcpTokenError('the service account private_key is not a PKCS#8 RSA key in PEM form');
    });
    return key;
  };

  const assertion = async (nowMs: number): Promise<string> => {
    const iat = Math.floor(nowMs / 1000);
    const header = { alg: 'RS256', typ: 'JWT', ...(sa.privateKeyId && { kid: sa.privateKeyId }) };
    const [{ SignJWT }, signing] = await Promise.all([import('jose'), signingKey()]);
    return new SignJWT({ scope: CLOUD_PLATFORM_SCOPE })
      .setProtectedHeader(header)
      .setIssuer(sa.clientEmail)
      .setAudience(tokenUrl)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ASSERTION_LIFETIME_SECS)
      .sign(signing);
  };

  const exchange = async (): Promise<string> => {
    const startedAt = clock.now();
    const form = new URLSearchParams({ grant_type: JWT_BEARER, assertion: await assertion(startedAt) });
    let status: number;
    let text: string;
    try {
      const url = new URL(tokenUrl);
      const res = await oneShot(url.origin, {
        method: 'POST',
        path: url.pathname + url.search,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
        timeoutMs,
        maxBodyBytes: MAX_TOKEN_ANSWER,
      });
      status = res.status;
      text = res.body;
    } catch (err) {
      const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : 'network error';
      throw new GcpTokenError(`token endpoint could not be reached (${code})`, { cause: err });
    }
    if (status !== 200) throw new GcpTokenError(describeFailure(status, text), { tokenStatus: status });
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const token = fields['access_token'];
    const expiresIn = fields['expires_in'];
    if (typeof token !== 'string' || token === '' || typeof expiresIn !== 'number') {
      throw new GcpTokenError('token endpoint answered 200 without access_token and expires_in', { tokenStatus: status });
    }
    // Lifetime counts from before the request, so a slow exchange errs on the early side.
    let lifetimeSecs = expiresIn - opts.expireEarlySecs;
    if (opts.maxTtlSecs !== undefined) lifetimeSecs = Math.min(lifetimeSecs, opts.maxTtlSecs);
    if (cached) previous = cached.token;
    cached = { token, validUntil: startedAt + lifetimeSecs * 1000 };
    return token;
  };

  return {
    getToken(): Promise<string> {
      if (cached && clock.now() < cached.validUntil) return Promise.resolve(cached.token);
      // One exchange at a time: concurrent callers share it instead of stampeding the token endpoint.
      inFlight ??= exchange().finally(() => {
        inFlight = undefined;
      });
      return inFlight;
    },
    invalidate(): void {
      if (cached) previous = cached.token;
      cached = undefined;
    },
    recentTokens(): string[] {
      return [cached?.token, previous].filter((t): t is string => t !== undefined);
    },
  };
}
