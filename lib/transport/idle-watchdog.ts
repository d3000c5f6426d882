import { performance } from 'node:perf_hooks';

// The upstream `timeout` (APISIX's meaning: each socket operation) as one native timer per attempt:
// it expires when nothing arrived for `ms` — no response headers since the request was sent, or no
// body bytes since the last ones. undici's own timers run on a coarse clock (a 1 s timeout fired after
// up to 1.5 s), so they stay only as a backstop. `touch` is a clock read, cheap enough for every chunk.

export interface IdleWatchdog {
  /** Something arrived: the idle period starts again. */
  touch(): void;
  /** A new phase with its own limit: the idle period starts again and now lasts `ms`. */
  phase(ms: number, onExpire?: () => void): void;
  stop(): void;
}

/** `firstMs` (default `ms`) bounds the first idle period: what is left of a budget partly spent already. */
export function startIdleWatchdog(ms: number, onExpire: () => void, firstMs = ms): IdleWatchdog {
  // The last arrival, in whole milliseconds since `origin`: a small integer lives in its variable, where
  // a double would be a new heap number (and a write barrier) on every chunk a stream touches it.
  const origin = performance.now();
  const sinceOrigin = (): number => Math.floor(performance.now() - origin);
  let last = firstMs - ms;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const check = (): void => {
    const idle = sinceOrigin() - last;
    if (idle >= ms - 1) {
      timer = undefined;
      onExpire();
      return;
    }
    timer = setTimeout(check, ms - idle);
  };
  timer = setTimeout(check, Math.max(0, firstMs));
  return {
    touch() {
      last = sinceOrigin();
    },
    phase(next, expire) {
      if (stopped) return;
      ms = next;
      if (expire) onExpire = expire;
      last = sinceOrigin();
      if (timer) clearTimeout(timer);
      timer = setTimeout(check, ms);
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
