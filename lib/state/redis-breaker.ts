// The one opossum breaker in front of every command the Redis state store sends. Closed: commands go to
// Redis. Open: "Redis unavailable, serving on local state", every command is turned down at once and
// the caller answers from its local mirror. After `reconnectCheckMs` it goes half-open and lets exactly
// one command through, the store's reconnect check; its success closes the breaker, its failure (or
// `timeoutMs` without an answer) opens it again. The fleet-wide instance breakers in lib/breaker/ are
// the project's own, for the reasons given there.
import CircuitBreaker from 'opossum';

export interface RedisBreakerOptions {
  /** A command without an answer after this long fails and opens the breaker (`command_timeout_ms`). */
  timeoutMs: number;
  /** How long the breaker stays open before it lets one trial command through. */
  reconnectCheckMs: number;
  /** Each time it opens: after a failure while closed, and again after each failed trial. */
  onOpen(reason: unknown): void;
  onHalfOpen(): void;
  onClose(): void;
}

export interface RedisBreaker {
  /**
   * Sends one command unless the breaker is open. Rejects with the command's own error, a timeout, or
   * (open, or half-open with its trial under way) an error coded EOPENBREAKER without touching Redis.
   */
  run<T>(command: () => Promise<T>): Promise<T>;
  isClosed(): boolean;
  /** Opens a closed breaker at once, for a failure no command saw (the connection dropped, start-up deadline). */
  trip(reason: unknown): void;
  /** Stops its timers; every later run() rejects. */
  shutdown(): void;
}

type Command = () => Promise<unknown>;

export function createRedisBreaker(opts: RedisBreakerOptions): RedisBreaker {
  const breaker = new CircuitBreaker<[Command], unknown>((command) => command(), {
    name: 'redis',
    timeout: opts.timeoutMs,
    resetTimeout: opts.reconnectCheckMs,
    // Any failure opens it: every caller has local state to fall back on, and a request must never
    // pay a second command timeout to learn that Redis is still away.
    errorThresholdPercentage: 0,
    volumeThreshold: 0,
    // Redis answered, but refused this one command (an ACL, a key of the wrong type): it is up.
    errorFilter: (err: unknown) => !isOutage(err),
    rollingPercentilesEnabled: false,
    enableSnapshots: false,
  });
  let lastFailure: unknown;
  breaker.on('failure', (err: unknown) => {
    lastFailure = err;
  });
  breaker.on('open', () => opts.onOpen(lastFailure));
  breaker.on('halfOpen', () => opts.onHalfOpen());
  breaker.on('close', () => opts.onClose());

  return {
    run: <T>(command: () => Promise<T>) => breaker.fire(command) as Promise<T>,
    isClosed: () => breaker.closed,
    trip(reason) {
      // Half-open, the trial under way decides; open, the outage is already known.
      if (!breaker.closed) return;
      lastFailure = reason;
      breaker.open();
    },
    shutdown: () => breaker.shutdown(),
  };
}

// Redis replies with an error whose first word is its code; these codes mean "not available right now",
// anything else it says means it is up and refused this one command. Anything that is not a reply
// (connection lost, timeout, breaker open) is an outage.
const outageCodes = new Set(['READONLY', 'LOADING', 'MASTERDOWN', 'CLUSTERDOWN', 'TRYAGAIN', 'BUSY']);
export function isOutage(err: unknown): boolean {
  if (!(err instanceof Error) || err.name !== 'ReplyError') return true;
  return outageCodes.has(err.message.split(' ')[0] ?? '');
}
