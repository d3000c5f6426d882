import assert from 'node:assert/strict';
import { ProviderQuota, quotaHoldFrom, quotaKeyOf, resetInMs } from '../../lib/health/provider-quota.ts';
import { createLogger } from '../../lib/observe/logger.ts';
import { createMemoryState, createMemoryStore } from '../../lib/state/memory-store.ts';
import { createManualClock } from '../support/manual-clock.ts';

const NOW = Date.parse('2026-12-04T12:00:00Z');

describe('resetInMs', () => {
  it('reads OpenAI\'s Go durations', () => {
    assert.equal(resetInMs('6m0s', NOW), 360_000);
    assert.equal(resetInMs('1s', NOW), 1000);
    assert.equal(resetInMs('20ms', NOW), 20);
    assert.equal(resetInMs('1.5s', NOW), 1500);
    assert.equal(resetInMs('1h2m3s', NOW), 3_723_000);
    assert.equal(resetInMs('2m59.56s', NOW), 179_560);
  });

  it('reads Azure\'s whole seconds and Anthropic\'s RFC 3339 times', () => {
    assert.equal(resetInMs('60', NOW), 60_000);
    assert.equal(resetInMs('2026-12-04T12:00:02Z', NOW), 2000);
    assert.equal(resetInMs('2026-12-04T13:00:02.500+01:00', NOW), 2500);
  });

  it('reads nothing from anything else', () => {
    for (const v of ['', 'soon', '5 minutes', '1d', '-1s', 'Fri, 04 Dec 2026 12:00:02 GMT', '2026-12-04']) assert.equal(resetInMs(v, NOW), undefined, v);
  });
});

describe('quotaHoldFrom', () => {
  it('holds until the reset of a used-up OpenAI request limit', () => {
    const hold = quotaHoldFrom({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '2s', 'x-ratelimit-remaining-tokens': '149984' }, NOW);
    assert.equal(hold?.until, NOW + 2000);
    assert.match(hold?.reason ?? '', /no requests left \(x-ratelimit-remaining-requests: 0, reset 2s\)/);
  });

  it('holds until the reset of a used-up Anthropic token limit', () => {
    const hold = quotaHoldFrom({
      'anthropic-ratelimit-requests-remaining': '49',
      'anthropic-ratelimit-requests-reset': '2026-12-04T12:00:30Z',
      'anthropic-ratelimit-input-tokens-remaining': '0',
      'anthropic-ratelimit-input-tokens-reset': '2026-12-04T12:00:05Z',
    }, NOW);
    assert.equal(hold?.until, NOW + 5000);
    assert.match(hold?.reason ?? '', /no input-tokens left/);
  });

  it('waits for the last reset when several limits are used up', () => {
    const hold = quotaHoldFrom({
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '20ms',
      'x-ratelimit-remaining-tokens': '0',
      'x-ratelimit-reset-tokens': '6m0s',
    }, NOW);
    assert.equal(hold?.until, NOW + 360_000);
  });

  it('holds a second when the reset is missing or unreadable, and at most an hour', () => {
    assert.equal(quotaHoldFrom({ 'x-ratelimit-remaining-tokens': '0' }, NOW)?.until, NOW + 1000);
    assert.equal(quotaHoldFrom({ 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': 'later' }, NOW)?.until, NOW + 1000);
    assert.equal(quotaHoldFrom({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '30h0m0s' }, NOW)?.until, NOW + 3600_000);
  });

  it('sees no news in limits with something left, Azure\'s -1, or a reset already past', () => {
    assert.equal(quotaHoldFrom({ 'x-ratelimit-remaining-requests': '1', 'x-ratelimit-reset-requests': '2s' }, NOW), undefined);
    assert.equal(quotaHoldFrom({ 'x-ratelimit-remaining-tokens': '-1', 'x-ratelimit-reset-tokens': '0' }, NOW), undefined);
    assert.equal(quotaHoldFrom({ 'anthropic-ratelimit-requests-remaining': '0', 'anthropic-ratelimit-requests-reset': '2026-12-04T11:59:59Z' }, NOW), undefined);
    assert.equal(quotaHoldFrom({ 'x-ratelimit-limit-requests': '0', 'content-length': '0' }, NOW), undefined);
  });
});

describe('ProviderQuota', () => {
  const silent = createLogger('silent');

  it('holds the instance out on every replica sharing the store until the reset, then lets it back', () => {
    const clock = createManualClock(NOW);
    const state = createMemoryState();
    const one = new ProviderQuota({ key: 'r/a', store: createMemoryStore({ clock, state }), clock, log: silent });
    const two = new ProviderQuota({ key: 'r/a', store: createMemoryStore({ clock, state }), clock, log: silent });
    const other = new ProviderQuota({ key: 'r/b', store: createMemoryStore({ clock, state }), clock, log: silent });
    one.observe({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '2s' });
    assert.equal(one.allows(), false);
    assert.equal(two.allows(), false, 'the other replica reads the same hold');
    assert.equal(other.allows(), true, 'another instance is not held');
    assert.equal(two.waitMs(), 2000);
    clock.advance(1999);
    assert.equal(two.allows(), false);
    assert.equal(two.waitMs(), 1);
    clock.advance(1);
    assert.equal(one.allows(), true);
    assert.equal(two.allows(), true);
    assert.equal(two.waitMs(), undefined);
  });

  it('writes a hold once, and again only when a later reset extends it', () => {
    const clock = createManualClock(NOW);
    const store = createMemoryStore({ clock });
    const writes: string[] = [];
    store.onChange((key) => writes.push(key));
    const quota = new ProviderQuota({ key: 'r/a', store, clock, log: silent });
    const zero = (reset: string) => ({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': reset });
    quota.observe(zero('2s'));
    quota.observe(zero('2s'));
    quota.observe(zero('1s'));
    assert.deepEqual(writes, ['quota:r/a']);
    quota.observe(zero('5s'));
    assert.equal(writes.length, 2);
    assert.equal(quota.waitMs(), 5000);
    quota.observe({ 'x-ratelimit-remaining-requests': '7' });
    assert.equal(quota.allows(), false, 'a late answer from before the hold does not lift it');
  });
});

describe('quotaKeyOf', () => {
  it('names one quota per key and model, without the key in it', () => {
    const key = quotaKeyOf('https://api.openai.com', [[['authorization', 'Bearer sk-live-123']]], 'gpt-4o-mini');
    assert.equal(key, quotaKeyOf('https://api.openai.com', [[['authorization', 'Bearer sk-live-123']]], 'gpt-4o-mini'));
    assert.notEqual(key, quotaKeyOf('https://api.openai.com', [[['authorization', 'Bearer sk-live-456']]], 'gpt-4o-mini'));
    assert.notEqual(key, quotaKeyOf('https://api.openai.com', [[['authorization', 'Bearer sk-live-123']]], 'gpt-4o'));
    assert.notEqual(key, quotaKeyOf('https://example.openai.azure.com', [[['authorization', 'Bearer sk-live-123']]], 'gpt-4o-mini'));
    assert.ok(!key.includes('sk-live'));
  });
});
