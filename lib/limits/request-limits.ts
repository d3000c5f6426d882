// Limits a request must be within before it goes upstream, and the charge once its answer is known:
// the consumer's requests, tokens and budget, and the route's `ai-rate-limiting` limit and rules.
// Requests are taken atomically (add, then give back if over), so N replicas admit exactly `limit`;
// tokens and money are known only afterwards, so they are checked before (the window must not already
// be spent, as APISIX does) and charged when the usage arrives.
import type { ConsumerConfig, LimitStrategy, LimitWindow, RouteConfig } from '../config/types.ts';
import { RateLimitedError } from '../errors.ts';
import type { RequestVars, VarReader } from '../balancer/request-vars.ts';
import { varReader } from '../balancer/request-vars.ts';
import type { LimitCounter } from './limit-counter.ts';

/** Tokens an answer used, as the access record has them. */
export interface ChargedUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
}

export interface Admission {
  /** x-ratelimit-* headers for the answer (the tightest limit of each kind); empty when none are shown. */
  headers: Record<string, string>;
  /** Charges tokens and cost once the answer is known. Never rejects. */
  charge(usage: ChargedUsage, costUsd: number | undefined): Promise<void>;
}

export interface RequestLimits {
  /** Whether `admit` has anything to check for this consumer (skips the state store otherwise). */
  applies(consumer: ConsumerConfig | undefined): boolean;
  /** Resolves with the admission, or rejects with RateLimitedError. */
  admit(consumer: ConsumerConfig | undefined, vars: RequestVars): Promise<Admission>;
}

// Budgets are counted in micro-dollars: the window counters add integers.
const MICRO = 1_000_000;

interface TokenLimit {
  counter: string;
  limit: number;
  windowMs: number;
  strategy: LimitStrategy;
  /** Who is limited, for the message: "consumer alice", "route chat". */
  who: string;
  status: number;
  message?: string;
  shown: boolean;
}

interface Rule extends LimitWindow {
  key: string;
  index: number;
  readers: Array<string | VarReader>;
}

const NO_ADMISSION: Admission = { headers: {}, charge: () => Promise.resolve() };

/** APISIX rule keys: text with `$variable` references, e.g. "$consumer_name $http_x_team". */
export function compileRuleKey(key: string): Array<string | VarReader> {
  const parts: Array<string | VarReader> = [];
  let last = 0;
  for (const m of key.matchAll(/\$([A-Za-z0-9_]+)/g)) {
    if (m.index > last) parts.push(key.slice(last, m.index));
    parts.push(varReader(m[1] ?? ''));
    last = m.index + m[0].length;
  }
  if (last < key.length) parts.push(key.slice(last));
  return parts;
}

function ruleKey(readers: Array<string | VarReader>, vars: RequestVars): string | undefined {
  let key = '';
  let anyValue = false;
  for (const r of readers) {
    if (typeof r === 'string') key += r;
    else {
      const v = r(vars);
      if (v !== undefined && v !== '') anyValue = true;
      key += v ?? '';
    }
  }
  return anyValue ? key : undefined;
}

export function tokensOf(usage: ChargedUsage, strategy: LimitStrategy): number {
  const v = usage[strategy] ?? (strategy === 'total_tokens' ? (usage.prompt_tokens ?? 0) + (usage.completion_tokens ?? 0) : 0);
  return Number.isFinite(v) && v > 0 ? Math.round(v) : 0;
}

export function createRequestLimits(route: RouteConfig, counter: LimitCounter): RequestLimits {
  const rl = route.rate_limiting;
  const routeLimit: TokenLimit | undefined = rl?.route && {
    counter: `route:${route.id}:tokens`,
    limit: rl.route.limit,
    windowMs: rl.route.time_window * 1000,
    strategy: rl.limit_strategy,
    who: `route ${route.id}`,
    status: rl.rejected_code,
    ...(rl.rejected_msg !== undefined ? { message: rl.rejected_msg } : {}),
    shown: rl.show_limit_quota_header,
  };
  const rules: Rule[] = (rl?.rules ?? []).map((r, index) => ({ ...r, index, readers: compileRuleKey(r.key) }));

  const tokenLimitsOf = (consumer: ConsumerConfig | undefined, vars: RequestVars): TokenLimit[] => {
    const out: TokenLimit[] = [];
    const tokens = consumer?.limits.tokens;
    if (consumer && tokens) {
      out.push({
        counter: `consumer:${consumer.name}:tokens`,
        limit: tokens.limit,
        windowMs: tokens.time_window * 1000,
        strategy: 'total_tokens',
        who: `consumer ${consumer.name}`,
        status: 429,
        shown: true,
      });
    }
    if (routeLimit) out.push(routeLimit);
    for (const rule of rules) {
      const key = ruleKey(rule.readers, { ...vars, ...(consumer ? { consumer: consumer.name } : {}) });
      if (key === undefined || !rl) continue;
      out.push({
        counter: `route:${route.id}:rule:${rule.index}:${key}`,
        limit: rule.limit,
        windowMs: rule.time_window * 1000,
        strategy: rl.limit_strategy,
        who: `route ${route.id} for ${rule.key.trim()} = ${key}`,
        status: rl.rejected_code,
        ...(rl.rejected_msg !== undefined ? { message: rl.rejected_msg } : {}),
        shown: rl.show_limit_quota_header,
      });
    }
    return out;
  };

  const refuse = (status: number, message: string, resetSec: number, headers: Record<string, string>): RateLimitedError =>
    new RateLimitedError(status, message, { ...headers, 'retry-after': String(resetSec) });

  return {
    applies: (consumer) =>
      routeLimit !== undefined ||
      rules.length > 0 ||
      (consumer !== undefined && (consumer.limits.requests !== undefined || consumer.limits.tokens !== undefined || consumer.budget !== undefined)),

    async admit(consumer, vars) {
      const tokenLimits = tokenLimitsOf(consumer, vars);
      const budget = consumer?.budget;
      const budgetCounter = consumer && `consumer:${consumer.name}:budget`;
      const [tokenUsed, spent] = await Promise.all([
        Promise.all(tokenLimits.map((l) => counter.used(l.counter, l.windowMs))),
        budget && budgetCounter ? counter.used(budgetCounter, budget.window * 1000) : Promise.resolve(0),
      ]);

      const headers: Record<string, string> = {};
      // The tightest token limit shown decides the -tokens headers.
      let tightest: { limit: TokenLimit; remaining: number } | undefined;
      tokenLimits.forEach((l, i) => {
        const remaining = Math.max(0, l.limit - (tokenUsed[i] ?? 0));
        if (l.shown && (!tightest || remaining < tightest.remaining)) tightest = { limit: l, remaining };
      });
      if (tightest) setHeaders(headers, 'tokens', tightest.limit.limit, tightest.remaining, counter.resetSec(tightest.limit.windowMs));

      for (const [i, l] of tokenLimits.entries()) {
        if ((tokenUsed[i] ?? 0) < l.limit) continue;
        const message = l.message ?? `${l.who} has used its limit of ${l.limit} ${l.strategy.replace('_', ' ')} per ${l.windowMs / 1000} s`;
        throw refuse(l.status, message, counter.resetSec(l.windowMs), headers);
      }
      if (budget && consumer && spent / MICRO >= budget.usd) {
        throw refuse(429, `consumer ${consumer.name} has spent its budget of $${budget.usd} per ${budget.window} s`, counter.resetSec(budget.window * 1000), headers);
      }
      const requests = consumer?.limits.requests;
      if (consumer && requests) {
        const windowMs = requests.time_window * 1000;
        const name = `consumer:${consumer.name}:requests`;
        const taken = await counter.add(name, 1, windowMs);
        setHeaders(headers, 'requests', requests.limit, Math.max(0, requests.limit - taken), counter.resetSec(windowMs));
        if (taken > requests.limit) {
          // Given back so that refused requests do not keep the window full.
          await counter.add(name, -1, windowMs);
          throw refuse(429, `consumer ${consumer.name} has used its limit of ${requests.limit} requests per ${requests.time_window} s`, counter.resetSec(windowMs), headers);
        }
      }
      if (tokenLimits.length === 0 && !budget) return { ...NO_ADMISSION, headers };
      return {
        headers,
        async charge(usage, costUsd) {
          const jobs = tokenLimits.map((l) => {
            const n = tokensOf(usage, l.strategy);
            return n > 0 ? counter.add(l.counter, n, l.windowMs) : undefined;
          });
          if (budget && budgetCounter && costUsd !== undefined && costUsd > 0) {
            jobs.push(counter.add(budgetCounter, Math.ceil(costUsd * MICRO), budget.window * 1000));
          }
          await Promise.all(jobs);
        },
      };
    },
  };
}

function setHeaders(headers: Record<string, string>, kind: 'tokens' | 'requests', limit: number, remaining: number, resetSec: number): void {
  headers[`x-ratelimit-limit-${kind}`] = String(limit);
  headers[`x-ratelimit-remaining-${kind}`] = String(remaining);
  headers[`x-ratelimit-reset-${kind}`] = `${resetSec}s`;
}
