// What one answer cost, from the usage its provider reported. Prices come from the pinned snapshot of
// @pydantic/genai-prices (its bundled data; the gateway never asks it to fetch newer data, so a cost
// only changes when the package version in package.json does), or from an instance's own `price`.
import { createRequire } from 'node:module';
import type { Provider, Usage as PriceUsage } from '@pydantic/genai-prices';
import type { PriceConfig } from '../config/types.ts';
import type { Usage } from '../protocols/types.ts';

// The package's CommonJS build, not its ES module: the same table, but 481 KB of (minified) source for
// V8 to keep instead of 831 KB, and both hold a non-ASCII character, so V8 keeps either as two bytes a
// character for as long as the process lives.
const { calcPrice } = createRequire(import.meta.url)('@pydantic/genai-prices') as typeof import('@pydantic/genai-prices');

/** Where an instance's prices come from. */
export interface PriceSource {
  /** The provider's id in the price table (`priceTable` of its definition); undefined = not in the table. */
  table: string | undefined;
  /** The instance's `price`: when given, the table is not consulted. */
  override: PriceConfig | undefined;
}

// Model names come from providers' answers: the table lookups remembered are bounded.
const MAX_REMEMBERED = 1000;
// A table lookup scans a provider's models (hundreds for OpenRouter); a hit is kept as a one-model provider.
const remembered = new Map<string, Provider | null>();
const overrides = new WeakMap<PriceConfig, Provider>();

function overrideProvider(price: PriceConfig): Provider {
  let provider = overrides.get(price);
  if (!provider) {
    const prices: Record<string, number> = { input_mtok: price.input_mtok, output_mtok: price.output_mtok };
    if (price.cache_read_mtok !== undefined) prices['cache_read_mtok'] = price.cache_read_mtok;
    // The table's rule: a cache-write price needs its ancestor, and a read price defaults to the input one.
    if (price.cache_write_mtok !== undefined) prices['cache_write_mtok'] = price.cache_write_mtok;
    if (price.output_reasoning_mtok !== undefined) prices['output_reasoning_mtok'] = price.output_reasoning_mtok;
    provider = { id: 'instance-price', name: 'instance price', api_pattern: '^$', models: [{ id: 'instance', match: { regex: '' }, prices }] };
    overrides.set(price, provider);
  }
  return provider;
}

function tableProvider(table: string, model: string, usage: PriceUsage): Provider | null {
  const key = `${table}\u0000${model}`;
  const known = remembered.get(key);
  if (known !== undefined) return known;
  const found = calcPrice(usage, model, { providerId: table });
  const provider: Provider | null = found
    ? { id: found.provider.id, name: found.provider.name, api_pattern: '^$', models: [{ ...found.model, match: { regex: '' } }] }
    : null;
  if (remembered.size >= MAX_REMEMBERED) remembered.clear();
  remembered.set(key, provider);
  return provider;
}

function count(n: number | undefined): number | undefined {
  return n !== undefined && Number.isFinite(n) && n >= 0 ? n : undefined;
}

/**
 * The table's usage: `input_tokens` is the whole prompt (cache reads and writes are parts of it),
 * `output_tokens` the whole completion (reasoning is part of it) — the gateway's `Usage` already
 * counts that way for every protocol (docs/protocols.md#usage).
 */
function priceUsage(usage: Usage): PriceUsage | undefined {
  const input = count(usage.prompt_tokens);
  const output = count(usage.completion_tokens);
  if (input === undefined || output === undefined) return undefined;
  const out: PriceUsage = { input_tokens: input, output_tokens: output };
  const read = count(usage.cached_tokens);
  const write = count(usage.cache_creation_tokens);
  const reasoning = count(usage.reasoning_tokens);
  if (read) out['cache_read_tokens'] = read;
  if (write) out['cache_write_tokens'] = write;
  if (reasoning) out['output_reasoning_tokens'] = reasoning;
  return out;
}

/**
 * The cost in USD of one answer with `usage`, from `model` (the one the answer names, else the one
 * sent); undefined when the price is unknown (no `price`, the model is not in the table) or the usage
 * does not add up. Never 0 for an unknown price: 0 means the answer was free.
 */
export function costUsd(usage: Usage, model: string | undefined, source: PriceSource): number | undefined {
  const counts = priceUsage(usage);
  if (!counts) return undefined;
  try {
    let provider: Provider | null;
    if (source.override) provider = overrideProvider(source.override);
    else if (source.table !== undefined && model) provider = tableProvider(source.table, model, counts);
    else return undefined;
    if (!provider) return undefined;
    const result = calcPrice(counts, model ?? 'instance', { provider });
    if (!result || !Number.isFinite(result.total_price)) return undefined;
    // Twelve decimals: below a millionth of a cent, and without binary noise (0.00041999999999999996).
    return Number(result.total_price.toFixed(12));
  } catch {
    // The table refuses usage that does not add up (more cached tokens than prompt tokens).
    return undefined;
  }
}

/** A cost for a header or a log line: plain decimal, no exponent (4.5e-7 → "0.00000045"). */
export function formatUsd(usd: number): string {
  return usd.toFixed(12).replace(/\.?0+$/, '');
}
