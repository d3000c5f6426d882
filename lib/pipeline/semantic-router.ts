// Semantic balancing (balancer.algorithm "semantic"): the examples of every instance are embedded
// once per config load, in batches, and kept as unit vectors; each request's last user text is
// embedded and the instance with the most similar example (above its threshold) is tried first.
// Anything that goes wrong with the embeddings endpoint only costs the preference: the request is
// then balanced by weight (or goes to `fallback`) and a warning says why. Never a failed request.
import type { PluginConfig, SemanticConfig } from '../config/types.ts';
import { bestMatch, normalise, type SemanticCandidate } from '../balancer/semantic.ts';
import { describeCause } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { PoolRegistry } from '../transport/pool-registry.ts';
import { readBody, sendUpstream } from '../transport/send.ts';

/** Inputs per embeddings call (OpenAI accepts up to 2048). */
const BATCH = 256;
const MAX_EMBEDDINGS_BYTES = 64 * 1024 * 1024;
/** After a failed load, the next attempt waits at least this long (a request arriving then starts it). */
const RELOAD_BACKOFF_MS = 10_000;

export interface SemanticChoice {
  /** Instance to try first; undefined → the weighted pick. */
  instance: string | undefined;
  /** For the debugging header and the log: what decided. */
  detail: string;
}

export interface SemanticRouter {
  choose(text: string | undefined, signal: AbortSignal, log: Logger): Promise<SemanticChoice>;
  /** Starts embedding the examples (route start, so once per config load). */
  start(): void;
  /** Settles once the examples are embedded (or failed to be); for start-up and tests. */
  ready(): Promise<void>;
  readonly debugging: boolean;
}

type Embeddings = SemanticConfig['embeddings'];

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** One embeddings call for `texts`, through the gateway's pools. Errors name no credential and quote no body. */
async function embedBatch(conf: Embeddings, pools: PoolRegistry, texts: readonly string[], signal: AbortSignal): Promise<number[][]> {
  const url = new URL(conf.url);
  for (const [k, v] of Object.entries(conf.auth.query)) url.searchParams.set(k, v);
  const where = `${conf.url.origin}${conf.url.pathname}`;
  const pool = pools.get(url.origin, {
    keepalive: true,
    keepaliveTimeoutMs: 60_000,
    idleConnections: 4,
    timeoutMs: conf.timeout,
    connectTimeoutMs: conf.timeout,
    sslVerify: conf.ssl_verify,
  });
  const timeout = AbortSignal.timeout(conf.timeout);
  const both = AbortSignal.any([signal, timeout]);
  const body = Buffer.from(JSON.stringify({ model: conf.model, input: texts }));
  let payload: Buffer;
  let status: number;
  try {
    const res = await sendUpstream(
      pool,
      {
        method: 'POST',
        path: `${url.pathname}${url.search}`,
        headers: { 'content-type': 'application/json', accept: 'application/json', ...conf.auth.header },
        body,
        signal: both,
        keepalive: true,
      },
      'embeddings',
      conf.timeout,
    );
    status = res.statusCode;
    payload = await readBody(res.body, MAX_EMBEDDINGS_BYTES, 'embeddings', both);
  } catch (err) {
    if (timeout.aborted) throw new Error(`embeddings call to ${where} took longer than ${conf.timeout} ms`);
    throw new Error(`embeddings call to ${where} failed: ${describeCause(err)}`);
  }
  if (status !== 200) throw new Error(`embeddings endpoint ${where} answered HTTP ${status}`);
  return parseEmbeddings(payload, texts.length, where);
}

/** The vectors of an OpenAI /embeddings answer, in input order; anything malformed is an error. */
export function parseEmbeddings(payload: Buffer, count: number, where: string): number[][] {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new Error(`embeddings endpoint ${where} answered something that is not JSON`);
  }
  const data = typeof json === 'object' && json !== null ? (json as { data?: unknown }).data : undefined;
  if (!Array.isArray(data)) throw new Error(`embeddings answer of ${where} has no data array`);
  const vectors: Array<number[] | undefined> = new Array<number[] | undefined>(count).fill(undefined);
  data.forEach((item: unknown, i) => {
    const entry = typeof item === 'object' && item !== null ? (item as { index?: unknown; embedding?: unknown }) : undefined;
    const index = entry?.index === undefined ? i : entry.index;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= count) throw new Error(`embeddings answer of ${where}: bad index at entry ${i}`);
    const v = entry?.embedding;
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new Error(`embeddings answer of ${where}: entry ${index} is not a vector of finite numbers`);
    }
    vectors[index] = v as number[];
  });
  const missing = vectors.findIndex((v) => v === undefined);
  if (missing !== -1) throw new Error(`embeddings answer of ${where} has no vector for input ${missing}`);
  return vectors as number[][];
}

async function embedAll(conf: Embeddings, pools: PoolRegistry, texts: readonly string[], signal: AbortSignal): Promise<number[][]> {
  const out: number[][] = [];
  for (let i = 0; i < texts.length; i += BATCH) out.push(...(await embedBatch(conf, pools, texts.slice(i, i + BATCH), signal)));
  return out;
}

export function createSemanticRouter(plugin: PluginConfig, semantic: SemanticConfig, pools: PoolRegistry, log: Logger, closed: AbortSignal): SemanticRouter {
  const owners = plugin.instances.filter((i) => i.examples.length > 0);
  const texts = owners.flatMap((i) => i.examples);
  let candidates: SemanticCandidate[] | undefined;
  let loading: Promise<void> | undefined;
  let lastFailure = -Infinity;

  const load = (): Promise<void> => {
    loading ??= (async () => {
      try {
        const vectors = (await embedAll(semantic.embeddings, pools, texts, closed)).map(normalise);
        const dims = new Set(vectors.map((v) => v.length));
        if (dims.size > 1) throw new Error(`embeddings of different lengths (${[...dims].join(', ')})`);
        let at = 0;
        candidates = owners.map((i) => {
          const examples = vectors.slice(at, at + i.examples.length);
          at += i.examples.length;
          return { name: i.name, examples, threshold: i.threshold ?? semantic.threshold };
        });
        log.info({ instances: owners.length, examples: texts.length }, 'semantic balancing: examples embedded');
      } catch (err) {
        lastFailure = performance.now();
        if (!closed.aborted) log.warn(`semantic balancing: could not embed the examples, balancing by weight until it works: ${messageOf(err)}`);
      } finally {
        loading = undefined;
      }
    })();
    return loading;
  };

  const weighted = (detail: string): SemanticChoice => ({ instance: semantic.fallback, detail: semantic.fallback === undefined ? `${detail}; weighted pick` : `${detail}; fallback ${semantic.fallback}` });

  return {
    debugging: semantic.debugging,
    start: () => void load(),
    ready: async () => {
      await loading;
    },
    async choose(text, signal, reqLog) {
      if (!candidates && loading) await loading;
      if (!candidates) {
        if (!loading && performance.now() - lastFailure >= RELOAD_BACKOFF_MS) void load();
        return weighted('examples not embedded');
      }
      if (text === undefined) return weighted('no user text');
      let prompt: Float64Array;
      try {
        const [vector] = await embedBatch(semantic.embeddings, pools, [text], signal);
        prompt = normalise(vector ?? []);
      } catch (err) {
        if (signal.aborted) return weighted('client left');
        reqLog.warn(`semantic balancing: could not embed the request, balancing by weight: ${messageOf(err)}`);
        return weighted('embeddings failed');
      }
      const match = bestMatch(prompt, candidates);
      const score = match.bestScore === undefined ? '' : `; best ${match.bestName} ${match.bestScore.toFixed(4)}`;
      if (match.name === undefined) return weighted(`no instance above its threshold${score}`);
      return { instance: match.name, detail: `instance ${match.name}${score}` };
    },
  };
}
