import assert from 'node:assert/strict';
import { RECENT_WINDOW_MS, RecentWindow } from '../../lib/observe/recent-window.ts';

// The status page's "last minute" per instance: counts, tokens and medians over 5-second slots.

const T0 = 1_000_000_000_000; // on a slot boundary

describe('RecentWindow', () => {
  it('adds up attempts, failures and tokens within the minute', () => {
    const w = new RecentWindow();
    for (let i = 0; i < 5; i++) w.attempt(T0 + i * 1000);
    w.settled(T0 + 100, false, 10, 5, 120, false);
    w.settled(T0 + 7_000, true, 3, 0, undefined, false);
    const t = w.totals(T0 + 30_000);
    assert.deepEqual([t.attempts, t.failures, t.promptTokens, t.completionTokens], [5, 1, 13, 5]);
  });

  it('forgets a slot once it is a minute old, and reuses it for new traffic', () => {
    const w = new RecentWindow();
    w.attempt(T0);
    w.attempt(T0 + 5_000);
    assert.equal(w.totals(T0 + RECENT_WINDOW_MS - 1).attempts, 2);
    assert.equal(w.totals(T0 + RECENT_WINDOW_MS).attempts, 1, 'the first slot left the window');
    w.attempt(T0 + RECENT_WINDOW_MS + 10); // lands in the ring position of the first slot
    assert.equal(w.totals(T0 + RECENT_WINDOW_MS + 10).attempts, 2);
    assert.equal(w.totals(T0 + 10 * RECENT_WINDOW_MS).attempts, 0);
  });

  it('gives the median latency within 5%, answers and stream first tokens apart', () => {
    const w = new RecentWindow();
    for (const ms of [100, 200, 300, 400, 5000]) w.settled(T0, false, 0, 0, ms, false);
    for (const ms of [40, 50, 60]) w.settled(T0, false, 0, 0, ms, true);
    const t = w.totals(T0);
    assert.ok(t.latencyP50Ms !== undefined && Math.abs(t.latencyP50Ms - 300) <= 15, `p50 latency ${t.latencyP50Ms}`);
    assert.ok(t.ttftP50Ms !== undefined && Math.abs(t.ttftP50Ms - 50) <= 2.5, `p50 TTFT ${t.ttftP50Ms}`);
  });

  it('has no median without a sample, and clamps absurd latencies', () => {
    const w = new RecentWindow();
    assert.equal(w.totals(T0).latencyP50Ms, undefined);
    w.settled(T0, false, 0, 0, 0, false);
    w.settled(T0, false, 0, 0, 10 * 3600_000, false);
    w.settled(T0, false, 0, 0, Number.NaN, false);
    assert.ok((w.totals(T0).latencyP50Ms ?? 0) >= 1);
  });
});
