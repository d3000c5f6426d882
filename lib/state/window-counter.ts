// Sliding-window counting shared by both stores: the memory store runs it in process, the Redis store runs
// the same bucket arithmetic as a Lua script so every replica adds into one hash per counter.
import type { WindowTotals } from './state-store.ts';

/** A window is this many buckets of windowMs / windowBuckets; a count leaves the window a whole bucket at a time. */
export const windowBuckets = 10;

/**
 * Index of the bucket `now` falls in. Derived from the gateway's clock, never Redis's, so replicas agree
 * within their clock skew and tests with a manual clock are exact.
 */
export function bucketIndex(now: number, windowMs: number): number {
  return Math.floor(now / (Math.max(windowMs, windowBuckets) / windowBuckets));
}

/** A bucket counts while its index is greater than current - windowBuckets. */
export function isLiveBucket(bucket: number, current: number): boolean {
  return bucket > current - windowBuckets;
}

interface Window {
  windowMs: number;
  buckets: Map<number, { failures: number; total: number }>;
}

export interface WindowCounters {
  add(counter: string, failures: number, total: number, windowMs: number, now: number): WindowTotals;
}

/** In-process counters: one small map of buckets per counter, pruned on every add. */
export function createWindowCounters(): WindowCounters {
  const windows = new Map<string, Window>();
  return {
    add(counter, failures, total, windowMs, now) {
      let window = windows.get(counter);
      // A changed window length makes the old bucket indexes meaningless: start over.
      if (!window || window.windowMs !== windowMs) {
        window = { windowMs, buckets: new Map() };
        windows.set(counter, window);
      }
      const current = bucketIndex(now, windowMs);
      if (failures !== 0 || total !== 0) {
        const bucket = window.buckets.get(current) ?? { failures: 0, total: 0 };
        bucket.failures += failures;
        bucket.total += total;
        window.buckets.set(current, bucket);
      }
      const sum: WindowTotals = { failures: 0, total: 0 };
      for (const [index, bucket] of window.buckets) {
        if (!isLiveBucket(index, current)) {
          window.buckets.delete(index);
          continue;
        }
        sum.failures += bucket.failures;
        sum.total += bucket.total;
      }
      if (window.buckets.size === 0) windows.delete(counter);
      return sum;
    },
  };
}

/**
 * The Redis side: KEYS[1] = the counter's hash; ARGV = bucket index, failures, total, window ms.
 * Fields are `f:<bucket>` and `t:<bucket>`; dead buckets are deleted and the hash expires after two
 * windows of silence, so an instance that stops getting traffic leaves nothing behind.
 */
export const windowLua = `
-- Field names use ARGV[1] verbatim: Lua would print a large number as 1.7e+11.
local bucket = tonumber(ARGV[1])
local failures = tonumber(ARGV[2])
local total = tonumber(ARGV[3])
if failures ~= 0 then redis.call('HINCRBY', KEYS[1], 'f:' .. ARGV[1], failures) end
if total ~= 0 then redis.call('HINCRBY', KEYS[1], 't:' .. ARGV[1], total) end
local fields = redis.call('HGETALL', KEYS[1])
local sumF, sumT, dead = 0, 0, {}
for i = 1, #fields, 2 do
  local name = fields[i]
  local index = tonumber(string.sub(name, 3))
  if index == nil or index <= bucket - ${windowBuckets} then
    dead[#dead + 1] = name
  elseif string.sub(name, 1, 1) == 'f' then
    sumF = sumF + tonumber(fields[i + 1])
  else
    sumT = sumT + tonumber(fields[i + 1])
  end
end
if #dead > 0 then redis.call('HDEL', KEYS[1], unpack(dead)) end
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[4]))
return { sumF, sumT }
`;
