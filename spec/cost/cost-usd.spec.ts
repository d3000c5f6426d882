import assert from 'node:assert/strict';
import { findProvider } from '@pydantic/genai-prices';
import { costUsd, formatUsd } from '../../lib/cost/cost-usd.ts';
import type { Usage } from '../../lib/protocols/types.ts';

const table = (id: string) => ({ table: id, override: undefined });
const usage = (u: Partial<Usage> & Pick<Usage, 'prompt_tokens' | 'completion_tokens'>): Usage => ({ total_tokens: u.prompt_tokens + u.completion_tokens, ...u });

/** The snapshot's own price of `model`, per million tokens. */
function tablePrice(provider: string, model: string): Record<string, unknown> {
  const found = findProvider({ providerId: provider })?.models.find((m) => m.id === model);
  assert.ok(found, `${provider}/${model} is in the price table`);
  return found.prices as Record<string, unknown>;
}

describe('costUsd', () => {
  // The expected figures are worked out from the vendors' published prices, which the first test
  // checks the pinned snapshot still holds: a package bump that changes them fails here first.
  it('reads the pinned table at the vendors\' published prices', () => {
    // https://openai.com/api/pricing: gpt-4o-mini $0.15 in, $0.075 cached in, $0.60 out; o4-mini $1.10 / $0.275 / $4.40.
    assert.deepEqual(
      [tablePrice('openai', 'gpt-4o-mini')['input_mtok'], tablePrice('openai', 'gpt-4o-mini')['cache_read_mtok'], tablePrice('openai', 'gpt-4o-mini')['output_mtok']],
      [0.15, 0.075, 0.6],
    );
    const o4 = tablePrice('openai', 'o4-mini');
    assert.deepEqual([o4['input_mtok'], o4['cache_read_mtok'], o4['output_mtok']], [1.1, 0.275, 4.4]);
    // https://www.anthropic.com/pricing: Claude Sonnet 4.5 $3 in, $3.75 cache write (5 min), $0.30 cache read, $15 out (≤ 200k prompt).
    const sonnet = tablePrice('anthropic', 'claude-sonnet-4-5') as Record<string, { base: number }>;
    assert.deepEqual([sonnet['input_mtok']?.base, sonnet['cache_write_mtok']?.base, sonnet['cache_read_mtok']?.base, sonnet['output_mtok']?.base], [3, 3.75, 0.3, 15]);
  });

  it('prices uncached and cached prompt tokens and completion tokens apart', () => {
    // 600 × $0.15 + 400 × $0.075 + 500 × $0.60, per million = $0.00042.
    assert.equal(costUsd(usage({ prompt_tokens: 1000, cached_tokens: 400, completion_tokens: 500 }), 'gpt-4o-mini', table('openai')), 0.00042);
    // Without a cache hit: 1000 × $0.15 + 500 × $0.60 = $0.00045.
    assert.equal(costUsd(usage({ prompt_tokens: 1000, completion_tokens: 500 }), 'gpt-4o-mini', table('openai')), 0.00045);
  });

  it('counts reasoning tokens as the completion tokens they are part of', () => {
    // o4-mini: 1000 × $1.10 + 1000 cached × $0.275 + 1500 × $4.40 (1000 of them reasoning) = $0.007975.
    const u = usage({ prompt_tokens: 2000, cached_tokens: 1000, completion_tokens: 1500, reasoning_tokens: 1000 });
    assert.equal(costUsd(u, 'o4-mini', table('openai')), 0.007975);
  });

  it('prices Anthropic cache writes and reads at their own rates, a dated model id included', () => {
    // 100 × $3 + 1000 written × $3.75 + 2000 read × $0.30 + 200 × $15 = $0.00765.
    const u = usage({ prompt_tokens: 3100, cache_creation_tokens: 1000, cached_tokens: 2000, completion_tokens: 200 });
    assert.equal(costUsd(u, 'claude-sonnet-4-5', table('anthropic')), 0.00765);
    assert.equal(costUsd(u, 'claude-sonnet-4-5-20250929', table('anthropic')), 0.00765);
  });

  it('uses the instance\'s price instead of the table, cache and reasoning rates defaulting to input and output', () => {
    const price = { input_mtok: 2, output_mtok: 8, cache_read_mtok: 0.5 };
    // 600 × $2 + 400 × $0.50 + 500 × $8 = $0.0054.
    const u = usage({ prompt_tokens: 1000, cached_tokens: 400, completion_tokens: 500, reasoning_tokens: 200 });
    assert.equal(costUsd(u, 'my-private-llama', { table: undefined, override: price }), 0.0054);
    // The override wins over the table for a model the table knows.
    assert.equal(costUsd(u, 'gpt-4o-mini', { table: 'openai', override: price }), 0.0054);
    // A reasoning price of its own: $0.0014 for the prompt, 300 × $8 + 200 × $20 for the completion = $0.0078.
    assert.equal(costUsd(u, 'x', { table: undefined, override: { ...price, output_reasoning_mtok: 20 } }), 0.0078);
  });

  it('knows no cost for a model the table lacks, a provider without a table, or no model at all', () => {
    const u = usage({ prompt_tokens: 10, completion_tokens: 5 });
    assert.equal(costUsd(u, 'my-private-llama', table('openai')), undefined);
    assert.equal(costUsd(u, 'gpt-4o-mini', { table: undefined, override: undefined }), undefined);
    assert.equal(costUsd(u, undefined, table('openai')), undefined);
  });

  it('prices an empty answer of a known model at exactly 0', () => {
    assert.equal(costUsd(usage({ prompt_tokens: 0, completion_tokens: 0 }), 'gpt-4o-mini', table('openai')), 0);
  });

  it('gives no cost, rather than throwing, for usage that does not add up', () => {
    assert.equal(costUsd(usage({ prompt_tokens: 10, cached_tokens: 50, completion_tokens: 5 }), 'gpt-4o-mini', table('openai')), undefined);
    assert.equal(costUsd(usage({ prompt_tokens: -1, completion_tokens: 5 }), 'gpt-4o-mini', table('openai')), undefined);
    assert.equal(costUsd(usage({ prompt_tokens: Number.NaN, completion_tokens: 5 }), 'gpt-4o-mini', table('openai')), undefined);
  });

  it('looks a model up the same way after many other models were priced', () => {
    const u = usage({ prompt_tokens: 1000, completion_tokens: 500 });
    for (let i = 0; i < 1100; i++) costUsd(u, `unknown-${i}`, table('openai'));
    assert.equal(costUsd(u, 'gpt-4o-mini', table('openai')), 0.00045);
  });
});

describe('formatUsd', () => {
  it('writes plain decimals without exponent or trailing zeros', () => {
    assert.equal(formatUsd(0.00042), '0.00042');
    assert.equal(formatUsd(4.5e-7), '0.00000045');
    assert.equal(formatUsd(0), '0');
    assert.equal(formatUsd(12.5), '12.5');
  });
});
