// Verifies a received request's SigV4 signature the way Bedrock would, by recomputing it with the
// gateway's own signer (lib/providers/auth/sigv4.ts): the fake Bedrock rejects what real Bedrock would.
// A test tool: it never ships with the gateway.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AwsCredentials } from '../../lib/providers/auth/sigv4.ts';
import { BEDROCK_SIGNING_SERVICE, bedrockSigner, smithyRequest } from '../../lib/providers/auth/sigv4.ts';

/** A request as a server received it. `path` is path + query exactly as on the wire. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface VerifyOptions {
  now?: Date;
  /** AWS refuses signatures dated more than 15 minutes from its clock. */
  maxSkewMs?: number;
}

const DEFAULT_MAX_SKEW_MS = 15 * 60 * 1000;

interface AuthorizationParts {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

// `AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/bedrock/aws4_request, SignedHeaders=a;b, Signature=hex`
const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;._-]+),\s*Signature=([0-9a-f]{64})$/;

function parseAuthorization(value: string): AuthorizationParts | undefined {
  const m = AUTHORIZATION.exec(value.trim());
  if (!m) return undefined;
  const [, accessKeyId = '', date = '', region = '', service = '', signedHeaders = '', signature = ''] = m;
  return { accessKeyId, date, region, service, signedHeaders: signedHeaders.split(';'), signature };
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

/** `20240101T000000Z` → Date, or undefined when it is not that exact shape. */
function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const date = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * True when `req` carries a valid SigV4 signature by `creds` for `region` and service `bedrock`: the
 * signature is recomputed over exactly the headers the client listed as signed, the body must match
 * `x-amz-content-sha256` when sent, the session token must match when one is expected, and the date
 * must be within the allowed clock skew.
 */
export async function verifyBedrockSignature(
  req: ReceivedRequest,
  creds: AwsCredentials,
  region: string,
  opts: VerifyOptions = {},
): Promise<boolean> {
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    const value = headerValue(v);
    if (value !== undefined) lower[k.toLowerCase()] = value;
  }
  const auth = parseAuthorization(lower['authorization'] ?? '');
  const amzDate = lower['x-amz-date'];
  const when = amzDate === undefined ? undefined : parseAmzDate(amzDate);
  if (!auth || !when || auth.date !== amzDate?.slice(0, 8)) return false;
  if (auth.accessKeyId !== creds.access_key_id || auth.region !== region || auth.service !== BEDROCK_SIGNING_SERVICE) return false;
  const now = (opts.now ?? new Date()).getTime();
  if (Math.abs(now - when.getTime()) > (opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS)) return false;
  if (!auth.signedHeaders.includes('host')) return false;
  if (creds.session_token !== undefined && lower['x-amz-security-token'] !== creds.session_token) return false;
  // The signer trusts a present x-amz-content-sha256 as the body hash; a swapped body must not pass.
  const bodyHash = createHash('sha256').update(req.body).digest('hex');
  const claimedHash = lower['x-amz-content-sha256'];
  if (claimedHash !== undefined && claimedHash !== bodyHash) return false;

  const signedHeaders: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    const value = lower[name];
    if (value === undefined) return false;
    if (name !== 'x-amz-date') signedHeaders[name] = value;
  }
  // Concatenated, not resolved against a base: a path starting `//` must stay a path.
  let url: URL;
  try {
    url = new URL(`http://${lower['host'] ?? 'localhost'}${req.path.startsWith('/') ? '' : '/'}${req.path}`);
  } catch {
    return false;
  }
  const request = smithyRequest(req.method, url, signedHeaders, req.body);
  // Sign exactly what the client signed: its token and body hash are among the headers when it signed
  // them, so the signer must not add its own.
  const keys = { access_key_id: creds.access_key_id, secret_access_key: creds.secret_access_key };
  const expected = await bedrockSigner(keys, region, false).sign(request, {
    signingDate: when,
    signableHeaders: new Set(auth.signedHeaders),
  });
  const recomputed = parseAuthorization(String(expected.headers['authorization'] ?? ''));
  if (!recomputed || recomputed.signedHeaders.join(';') !== auth.signedHeaders.join(';')) return false;
  return sameText(recomputed.signature, auth.signature);
}
