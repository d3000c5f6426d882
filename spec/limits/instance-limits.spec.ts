import assert from 'node:assert/strict';
import type { RateLimitingConfig } from '../../lib/config/types.ts';
import { createInstanceLimits } from '../../lib/limits/instance-limits.ts';
import { createLimitCounter } from '../../lib/limits/limit-counter.ts';
import { createMemoryState, createMemoryStore } from '../../lib/state/memory-store.ts';
import { captureLogger } from '../support/gateway-harness.ts';
import { createManualClock } from '../support/manual-clock.ts';

// Two replicas on one perfectly reliable store (shared memory state), a manual clock: what each one's
// synchronous view of an instance's token window says, and when.
const config: RateLimitingConfig = {
  limit_strategy: 'completion_tokens',
  instances: [{ name: 'a', limit: 100, time_window: 60 }],
  rules: [],
  show_limit_quota_header: true,
  rejected_code: 429,
};
const usage = (completion: number) => ({ prompt_tokens: 1000, completion_tokens: completion, total_tokens: 1000 + completion });
const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('instance limits for picking', () => {
  const setup = () => {
    const clock = createManualClock(1_200_000);
    const state = createMemoryState();
    const { log } = captureLogger();
    const replica = (id: string) =>
      createInstanceLimits('chat', config, createLimitCounter(createMemoryStore({ clock, state, replicaId: id }), clock, log), clock);
    return { clock, one: replica('one'), two: replica('two') };
  };

  it('turns an instance away on this replica as soon as its charge spends the window, counting only the strategy\'s tokens', async () => {
    const { one } = setup();
    void one.charge('a', usage(60));
    assert.equal(one.admits('a'), true, '60 of 100 completion tokens (prompt tokens do not count)');
    void one.charge('a', usage(40));
    assert.equal(one.admits('a'), false, 'synchronously, before the store answers');
    assert.equal(one.admits('b'), true, 'an instance without a limit is always admitted');
  });

  it('lets another replica see the spent window within a second, and both admit again once it has passed', async () => {
    const { clock, one, two } = setup();
    await one.charge('a', usage(100));
    assert.equal(two.admits('a'), true, 'the other replica has not looked yet');
    clock.advance(1000);
    two.admits('a'); // a stale view starts a refresh and keeps its answer until it lands
    await settled();
    assert.equal(two.admits('a'), false);
    assert.equal(two.resetSec(['a', 'b']), 5, 'seconds to the end of the current tenth of the 60 s window');
    clock.advance(60_000);
    one.admits('a');
    two.admits('a');
    await settled();
    assert.equal(one.admits('a'), true);
    assert.equal(two.admits('a'), true);
    assert.equal(two.resetSec(['a']), undefined, 'nothing is over');
  });
});
