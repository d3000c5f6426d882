// A real HTTP server playing Google: the OAuth token endpoint (protocols.md 8.3), checking each JWT
// assertion's RS256 signature with the service account's public key, and Vertex AI's OpenAI-compatible
// chat (8.1) and `:predict` embeddings (8.2), which accept only tokens it issued.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { jwtVerify } from 'jose';
import type { Behavior, BehaviorFn, RecordedRequest } from './fake-openai.ts';
import { embeddingVector, estimateTokens } from './openai-payloads.ts';
import { sendChat, sendCut, sendJson } from './write-response.ts';
import type { Exchange } from './write-response.ts';

const SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const CHAT = /^\/v1(?:beta1)?\/projects\/[^/]+\/locations\/[^/]+\/endpoints\/openapi\/chat\/completions$/;
const PREDICT = /^\/v1\/projects\/[^/]+\/locations\/[^/]+\/publishers\/google\/models\/([^/:]+):predict$/;

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** Google's error body: `{"error":{"code","message","status"}}`. */
export function googleError(code: number, message?: string): object {
  const status = STATUS_NAMES[code] ?? (code >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION');
  return { error: { code, message: message ?? `Simulated ${status.toLowerCase()} error.`, status } };
}

export interface TestServiceAccount {
  /** The key file, as Google hands it out. */
  json: string;
  publicKey: KeyObject;
  clientEmail: string;
}

/** A throwaway service account (RSA 2048, PKCS#8 PEM) whose token_uri is `tokenUrl`. */
export function makeTestServiceAccount(
  tokenUrl: string,
  clientEmail = 'gateway-test@fake-project.iam.gserviceaccount.com',
): TestServiceAccount {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const json = JSON.stringify({
    type: 'service_account',
    project_id: 'fake-project',
    private_key_id: randomBytes(20).toString('hex'),
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    client_email: clientEmail,
    client_id: '100000000000000000000',
    token_uri: tokenUrl,
  });
  return { json, publicKey, clientEmail };
}

export interface FakeGoogleOptions {
  port?: number;
  host?: string;
  name?: string;
  /** The service account's public key (or set it later with `trust`): other signers get `invalid_grant`. */
  publicKey?: KeyObject;
  /** Expected `iss`; absent → any issuer. */
  clientEmail?: string;
  /** `expires_in` of issued tokens (Google says 3599). */
  tokenTtlSecs?: number;
  /** Applied to chat and predict, as in fake-openai. */
  behavior?: Behavior | BehaviorFn;
  /** Applied to the token endpoint before it checks the assertion: e.g. a 500 or a delay. */
  tokenBehavior?: Behavior;
  /** Time source for JWT `exp`/`iat` checks and token expiry, in ms. */
  now?: () => number;
  embeddingDims?: number;
}

export interface FakeGoogle {
  readonly url: string;
  /** POST here to exchange an assertion for a token. */
  readonly tokenUrl: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  /** Token requests received, valid or not. */
  tokenRequests(): number;
  /** Requests whose path starts with `pathPrefix` (all endpoints). */
  calls(pathPrefix?: string): number;
  setBehavior(b: Behavior | BehaviorFn): void;
  setTokenBehavior(b: Behavior | undefined): void;
  /** The key (and issuer) assertions must be signed with: a key file names the token URL, so it comes after start. */
  trust(publicKey: KeyObject, clientEmail?: string): void;
  /** Forgets every issued token: the next Vertex call with an old token gets 401. */
  revokeTokens(): void;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of req) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

function parseJson(body: Buffer): unknown {
  try {
    return body.length === 0 ? undefined : (JSON.parse(body.toString('utf8')) as unknown);
  } catch {
    return undefined;
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** `:predict` answer (8.2); gemini-embedding models take one instance per request. */
function predict(x: Exchange, model: string, dims: number): void {
  const body = isRecord(x.req.json) ? x.req.json : {};
  const instances = Array.isArray(body['instances']) ? body['instances'] : [];
  const texts = instances.map((i: unknown) => (isRecord(i) && typeof i['content'] === 'string' ? i['content'] : null));
  if (texts.length === 0 || texts.includes(null)) {
    return sendJson(x, 400, googleError(400, 'instances[].content must be a string'), {});
  }
  if (model.startsWith('gemini-embedding') && texts.length > 1) {
    return sendJson(x, 400, googleError(400, `Model ${model} supports only one instance per request.`), {});
  }
  const params = isRecord(body['parameters']) ? body['parameters'] : {};
  const d = params['outputDimensionality'];
  const size = typeof d === 'number' && Number.isInteger(d) && d > 0 ? d : dims;
  const predictions = texts.map((text) => ({
    embeddings: { statistics: { truncated: false, token_count: estimateTokens(text ?? '') }, values: embeddingVector(text ?? '', size) },
  }));
  sendJson(x, 200, { predictions, metadata: { billableCharacterCount: texts.join('').length } }, {});
}

export async function startFakeGoogle(opts: FakeGoogleOptions = {}): Promise<FakeGoogle> {
  const name = opts.name ?? 'fake-google';
  const now = opts.now ?? Date.now;
  const ttl = opts.tokenTtlSecs ?? 3599;
  const dims = opts.embeddingDims ?? 8;
  const initial: Behavior | BehaviorFn = opts.behavior ?? { kind: 'ok' };
  let behavior = initial;
  let tokenBehavior = opts.tokenBehavior;
  let trusted = { publicKey: opts.publicKey, clientEmail: opts.clientEmail };
  const issued = new Map<string, number>(); // token → expiry (ms)
  const counts = new Map<string, number>();
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const inFlight = new Set<AbortController>();
  let tokenCount = 0;
  let callIndex = 0;
  let tokenUrl = '';

  // Answers that are not chat/predict successes: the Behavior union, errors in Google's shape.
  async function run(x: Exchange, b: Behavior, ok: () => Promise<void> | void): Promise<void> {
    switch (b.kind) {
      case 'ok':
        return ok();
      case 'status': {
        const headers: Record<string, string> = { ...b.headers };
        if (b.retryAfter !== undefined) headers['retry-after'] = String(b.retryAfter);
        return sendJson(x, b.status, b.body ?? googleError(b.status), headers);
      }
      case 'delay':
        await sleep(b.ms, undefined, { signal: x.signal });
        return run(x, b.then, ok);
      case 'hang':
        if (!x.signal.aborted) await once(x.signal, 'abort');
        return;
      case 'drop':
        x.res.socket?.resetAndDestroy();
        return;
      case 'stream-cut':
      case 'stream-error':
        if (x.endpoint === 'chat') return sendChat(x, {}, b);
        return b.kind === 'stream-error' ? sendJson(x, 200, googleError(500), {}) : sendCut(x, { predictions: [] });
      case 'flaky':
        if ((b.random ?? Math.random)() < b.failRate) return sendJson(x, b.status ?? 503, googleError(b.status ?? 503), {});
        return ok();
    }
  }

  async function token(x: Exchange): Promise<void> {
    tokenCount++;
    const form = new URLSearchParams(x.req.body.toString('utf8'));
    const assertion = form.get('assertion') ?? '';
    const invalid = (description: string) => sendJson(x, 400, { error: 'invalid_grant', error_description: description }, {});
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return invalid('Invalid grant_type.');
    const { publicKey, clientEmail } = trusted;
    if (!publicKey) return invalid('Invalid JWT Signature.');
    let claims: Record<string, unknown>;
    try {
      const verified = await jwtVerify(assertion, publicKey, {
        algorithms: ['RS256'],
        audience: tokenUrl,
        ...(clientEmail !== undefined && { issuer: clientEmail }),
        currentDate: new Date(now()),
        requiredClaims: ['iat', 'exp', 'iss'],
      });
      claims = verified.payload;
    } catch {
      return invalid('Invalid JWT Signature.');
    }
    const { iat, exp, scope } = claims;
    if (typeof iat !== 'number' || typeof exp !== 'number' || exp - iat > 3600) {
      return invalid('Invalid JWT: Token must be a short-lived token (60 minutes).');
    }
    if (typeof scope !== 'string' || !scope.split(' ').includes(SCOPE)) {
      return invalid('Invalid OAuth scope or ID token audience provided.');
    }
    const accessToken = `ya29.fake-${randomBytes(12).toString('hex')}`;
    issued.set(accessToken, now() + ttl * 1000);
    sendJson(x, 200, { access_token: accessToken, expires_in: ttl, token_type: 'Bearer' }, {});
  }

  function authorized(req: RecordedRequest): boolean {
    const header = req.headers.authorization ?? '';
    const expiry = header.startsWith('Bearer ') ? issued.get(header.slice(7)) : undefined;
    return expiry !== undefined && now() < expiry;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = req.url ?? '/';
    const path = url.split('?')[0] ?? '/';
    const method = req.method ?? 'GET';
    const rec: RecordedRequest = { method, url, path, headers: req.headers, body, json: parseJson(body) };
    const index = callIndex++;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    requests.push(rec);
    const gone = new AbortController();
    inFlight.add(gone);
    res.on('close', () => {
      inFlight.delete(gone);
      gone.abort();
    });
    const x: Exchange = {
      req: rec,
      res,
      sim: { name, models: [], embeddingDims: dims },
      endpoint: 'chat',
      signal: gone.signal,
      created: Math.floor(now() / 1000),
      seq: index + 1,
      baseHeaders: { 'x-request-id': `req_${name}_${index + 1}` },
    };
    if (method === 'POST' && path === '/token') {
      x.endpoint = 'embeddings'; // a plain JSON answer: stream faults cut or replace it, no SSE
      return run(x, tokenBehavior ?? { kind: 'ok' }, () => token(x));
    }
    const model = PREDICT.exec(path)?.[1];
    if (method !== 'POST' || (!CHAT.test(path) && model === undefined)) {
      return sendJson(x, 404, googleError(404, `The requested URL ${path} was not found on this server.`), {});
    }
    if (!authorized(rec)) {
      return sendJson(x, 401, googleError(401, 'Request had invalid authentication credentials. Expected OAuth 2 access token.'), {});
    }
    if (!isRecord(rec.json)) return sendJson(x, 400, googleError(400, 'Invalid JSON payload received.'), {});
    x.endpoint = model === undefined ? 'chat' : 'embeddings';
    const b = typeof behavior === 'function' ? behavior(rec, index) : behavior;
    if (model !== undefined) return run(x, b, () => predict(x, decodeURIComponent(model), dims));
    return run(x, b, () => sendChat(x, b.kind === 'ok' ? b : {}, null));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      // Aborted by close() or by the client, or a BehaviorFn threw: a 500 if still possible, else cut.
      if (res.headersSent || res.destroyed) return void res.destroy();
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify(googleError(500)));
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const base = `http://${opts.host ?? '127.0.0.1'}:${port}`;
  tokenUrl = `${base}/token`;
  let closing: Promise<void> | undefined;

  return {
    url: base,
    tokenUrl,
    port,
    requests,
    tokenRequests: () => tokenCount,
    calls(pathPrefix?: string): number {
      let n = 0;
      for (const [p, c] of counts) if (pathPrefix === undefined || p.startsWith(pathPrefix)) n += c;
      return n;
    },
    setBehavior(b) {
      behavior = b;
    },
    setTokenBehavior(b) {
      tokenBehavior = b;
    },
    trust(publicKey, clientEmail) {
      trusted = { publicKey, clientEmail };
    },
    revokeTokens() {
      issued.clear();
    },
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        for (const c of inFlight) c.abort();
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}
