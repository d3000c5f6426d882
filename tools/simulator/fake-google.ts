// A real HTTP server playing Google (docs/protocols.md#vertex-ai): the OAuth token endpoint, checking each
// JWT assertion's RS256 signature with the service account's public key, and Vertex AI's OpenAI-compatible
// chat, native `generateContent` and `:predict` embeddings, which accept only tokens it issued.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { jwtVerify } from 'jose';
import type { Behavior, BehaviorFn } from './fake-openai.ts';
import { play, startFakeServer, statusHeaders } from './fake-server.ts';
import type { Call, RecordedRequest, Untimed } from './fake-server.ts';
import { embeddingVector, estimateTokens } from './openai-payloads.ts';
import { generateContentProblem, sendGenerateContent } from './fake-gemini.ts';
import { sendChat, sendCut, sendJson } from './write-response.ts';
import type { ChatOk, Exchange } from './write-response.ts';

const SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const CHAT = /^\/v1(?:beta1)?\/projects\/[^/]+\/locations\/[^/]+\/endpoints\/openapi\/chat\/completions$/;
const PREDICT = /^\/v1\/projects\/[^/]+\/locations\/[^/]+\/publishers\/google\/models\/([^/:]+):predict$/;
const GENERATE = /^\/v1(?:beta1)?\/projects\/[^/]+\/locations\/[^/]+\/publishers\/google\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;

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

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** `:predict` answer; gemini-embedding models take one instance per request. */
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

type Answer = Untimed<Behavior>;

// Chat, predict and the token endpoint differ only in their success (`ok`); failures are Google-shaped.
function answer(x: Exchange, b: Answer, ok: (b: Extract<Answer, { kind: 'ok' }>) => Promise<void> | void): Promise<void> | void {
  switch (b.kind) {
    case 'ok':
      return ok(b);
    case 'status':
      return sendJson(x, b.status, b.body ?? googleError(b.status), statusHeaders(b));
    case 'stream-cut':
    case 'stream-error':
      if (x.endpoint === 'chat') return sendChat(x, {}, b);
      return b.kind === 'stream-error' ? sendJson(x, 200, googleError(500), {}) : sendCut(x, { predictions: [] });
  }
}

export async function startFakeGoogle(opts: FakeGoogleOptions = {}): Promise<FakeGoogle> {
  const name = opts.name ?? 'fake-google';
  const now = opts.now ?? Date.now;
  const ttl = opts.tokenTtlSecs ?? 3599;
  const dims = opts.embeddingDims ?? 8;
  let tokenBehavior = opts.tokenBehavior;
  let trusted = { publicKey: opts.publicKey, clientEmail: opts.clientEmail };
  const issued = new Map<string, number>(); // token → expiry (ms)
  let tokenCount = 0;
  let tokenUrl = '';

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

  async function handle(call: Call, behavior: () => Promise<Behavior>): Promise<void> {
    const { method, path, json } = call.req;
    const x: Exchange = {
      ...call,
      sim: { name, models: [], embeddingDims: dims },
      endpoint: 'chat',
      created: Math.floor(now() / 1000),
      baseHeaders: { 'x-request-id': `req_${name}_${call.seq}` },
    };
    if (method === 'POST' && path === '/token') {
      x.endpoint = 'embeddings'; // a plain JSON answer: stream faults cut or replace it, no SSE
      return play<Answer>(x, tokenBehavior ?? { kind: 'ok' }, 503, (b) => answer(x, b, () => token(x)));
    }
    const generate = GENERATE.exec(path);
    if (method === 'POST' && generate) {
      // Vertex's native publisher endpoint: the same GenerateContentRequest as Gemini's, OAuth instead of a key.
      if (!authorized(call.req)) return sendJson(x, 401, googleError(401, 'Request had invalid authentication credentials. Expected OAuth 2 access token.'), {});
      const problem = generateContentProblem(json);
      if (problem) return sendJson(x, 400, googleError(400, problem), {});
      const stream = generate[2] === 'streamGenerateContent';
      if (stream && !call.req.url.includes('alt=sse')) return sendJson(x, 400, googleError(400, 'this fake streams only with alt=sse'), {});
      const model = decodeURIComponent(generate[1] ?? '');
      return play<Answer>(x, await behavior(), 503, (b) =>
        b.kind === 'ok' ? sendGenerateContent(x, model, stream, 'content' in b ? { content: b.content, chunks: b.chunks } : {}, null) : b.kind === 'status' ? answer(x, b, () => undefined) : sendGenerateContent(x, model, stream, {}, b),
      );
    }
    const model = PREDICT.exec(path)?.[1];
    if (method !== 'POST' || (!CHAT.test(path) && model === undefined)) {
      return sendJson(x, 404, googleError(404, `The requested URL ${path} was not found on this server.`), {});
    }
    if (!authorized(call.req)) {
      return sendJson(x, 401, googleError(401, 'Request had invalid authentication credentials. Expected OAuth 2 access token.'), {});
    }
    if (!isRecord(json)) return sendJson(x, 400, googleError(400, 'Invalid JSON payload received.'), {});
    x.endpoint = model === undefined ? 'chat' : 'embeddings';
    const ok = model === undefined ? (b: ChatOk) => sendChat(x, b, null) : () => predict(x, decodeURIComponent(model), dims);
    return play<Answer>(x, await behavior(), 503, (b) => answer(x, b, ok));
  }

  const server = await startFakeServer<Behavior, RecordedRequest>({
    name,
    port: opts.port,
    host: opts.host,
    behavior: opts.behavior ?? { kind: 'ok' },
    describe: (req) => req,
    handle,
    crash: { body: JSON.stringify(googleError(500)) },
  });
  tokenUrl = `${server.url}/token`;
  return {
    ...server,
    tokenUrl,
    tokenRequests: () => tokenCount,
    setTokenBehavior(b) {
      tokenBehavior = b;
    },
    trust(publicKey, clientEmail) {
      trusted = { publicKey, clientEmail };
    },
    revokeTokens() {
      issued.clear();
    },
  };
}
