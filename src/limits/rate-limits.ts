import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RedisClient } from '../cache/client.js';
import type { FailureLimit, RateLimitConfig, WindowLimit } from '../config.js';
import type { Logger } from '../logger.js';

/**
 * Rate limits shared by every API node: counters in Redis (rate-limiter-flexible's atomic
 * INCR+PEXPIRE script, one key per policy and subject), fixed windows that start at a subject's
 * first request.
 *
 * When Redis is away the limits do not disappear and do not refuse everyone: each limiter has an
 * in-memory insurance limiter with the same policy, so every node keeps limiting on its own
 * (a client spread over N nodes gets at most N budgets until Redis is back). The Redis client
 * has no offline queue and a short command timeout, and the limiters are built with
 * `rejectIfRedisNotReady`, so a disconnected Redis costs nothing; a Redis that accepts the
 * connection but does not answer costs one command timeout, after which the limiters go straight
 * to memory for FALLBACK_HOLD_MS before trying Redis again (a hung Redis must not add 100 ms to
 * every request).
 */

/** What a limit is, as the RateLimit-Policy header names it. */
export interface LimitPolicy {
  /** The policy name (`sends-burst`), also the middle of its Redis key. */
  name: string;
  quota: number;
  windowSeconds: number;
}

/** The outcome of one check or consume. */
export interface LimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Until the window (or a lock) ends. */
  resetMs: number;
  /** Whole seconds to wait before trying again, ≥ 1 (meaningful when refused). */
  retryAfterSeconds: number;
  policy: LimitPolicy;
}

export interface Limiter {
  readonly policy: LimitPolicy;
  /** Counts `points` (default 1) for the subject; refused when that goes over the quota. */
  consume(subject: string, points?: number): Promise<LimitDecision>;
  /** Gives back points counted by a consume that turned out not to count (never below a lock). */
  refund(subject: string, points?: number): Promise<void>;
  /** Forgets the subject's count (e.g. a correct password ends a run of failures). */
  reset(subject: string): Promise<void>;
}

export interface RateLimits {
  /** Failed logins per account (username); reaching the quota locks the account. */
  loginAccount: Limiter;
  /** Failed logins per client address, over all accounts. */
  loginIpFailures: Limiter;
  /** All login attempts per client address. */
  loginIp: Limiter;
  registerIp: Limiter;
  sendBurst: Limiter;
  sendSustained: Limiter;
  restUser: Limiter;
  restIp: Limiter;
}

/** The only Redis key spelling the limiters need (src/cache/keys.ts). */
export interface RateLimitKeys {
  rateLimitPrefix(policy: string): string;
  rateLimitKey(subject: string): string;
}

/** After a Redis failure, how long limiters use memory only before trying Redis again. */
export const FALLBACK_HOLD_MS = 1000;

export function createRateLimits(options: {
  config: RateLimitConfig;
  redis: RedisClient;
  keys: RateLimitKeys;
  logger: Logger;
  now?: () => number;
}): RateLimits {
  const { config, redis, keys, logger } = options;
  const now = options.now ?? Date.now;
  let fallbackUntil = 0;
  let fallbacks = 0;
  let fallingBack = false;

  /** Called by an insurance limiter whenever the library handed it a consume Redis failed. */
  function redisFailed() {
    fallbacks++;
    fallbackUntil = now() + FALLBACK_HOLD_MS;
    if (!fallingBack) {
      fallingBack = true;
      logger.warn('rate limits: Redis not answering; limiting per node in memory until it is back');
    }
  }
  function redisAnswered() {
    if (!fallingBack) return;
    fallingBack = false;
    logger.info('rate limits: Redis answering again; limits shared across nodes');
  }

  function build(name: string, limit: WindowLimit, lockSeconds?: number): Limiter {
    const policy: LimitPolicy = { name, quota: limit.limit, windowSeconds: limit.windowSeconds };
    const common = {
      keyPrefix: keys.rateLimitPrefix(name),
      points: limit.limit,
      duration: limit.windowSeconds,
      ...(lockSeconds ? { blockDuration: lockSeconds } : {}),
    };
    const memory = new InsuranceLimiter(common, redisFailed);
    const shared = new RateLimiterRedis({
      ...common,
      storeClient: redis,
      // ioredis: the library's own defineCommand'd script (useRedisPackage is for node-redis).
      rejectIfRedisNotReady: true,
      insuranceLimiter: memory,
    });
    const pick = () => (now() < fallbackUntil ? memory : shared);
    async function count(key: string, points: number) {
      if (now() < fallbackUntil) return memory.consumeHere(key, points);
      const before = fallbacks;
      try {
        return await shared.consume(key, points);
      } finally {
        if (fallbacks === before) redisAnswered();
      }
    }
    const decide = (res: RateLimiterRes, allowed: boolean): LimitDecision => {
      const resetMs = Math.max(0, res.msBeforeNext);
      return {
        allowed,
        limit: policy.quota,
        remaining: allowed ? Math.max(0, res.remainingPoints) : 0,
        resetMs,
        retryAfterSeconds: Math.max(1, Math.ceil(resetMs / 1000)),
        policy,
      };
    };
    return {
      policy,
      async consume(subject, points = 1) {
        try {
          return decide(await count(keys.rateLimitKey(subject), points), true);
        } catch (error) {
          if (error instanceof RateLimiterRes) return decide(error, false);
          // Both Redis and memory failed (not expected): let the request through rather than
          // refuse everyone, and say so.
          logger.error({ err: error, policy: name }, 'rate limit could not be evaluated');
          return {
            allowed: true,
            limit: policy.quota,
            remaining: policy.quota,
            resetMs: 0,
            retryAfterSeconds: 1,
            policy,
          };
        }
      },
      async refund(subject, points = 1) {
        await pick()
          .reward(keys.rateLimitKey(subject), points)
          .catch(() => {});
      },
      async reset(subject) {
        await pick()
          .delete(keys.rateLimitKey(subject))
          .catch(() => {});
      },
    };
  }

  const failures = (name: string, limit: FailureLimit) => build(name, limit, limit.lockSeconds);
  return {
    loginAccount: failures('login-account', config.loginAccount),
    loginIpFailures: failures('login-ip-failures', config.loginIpFailures),
    loginIp: build('login-ip', config.loginIp),
    registerIp: build('register-ip', config.registerIp),
    sendBurst: build('sends-burst', config.sendBurst),
    sendSustained: build('sends-sustained', config.sendSustained),
    restUser: build('rest-user', config.restUser),
    restIp: build('rest-ip', config.restIp),
  };
}

/**
 * The per-node limiter the library falls back to when a Redis call fails. It tells its owner so
 * that the next calls skip Redis for a moment instead of each waiting for a timeout.
 */
class InsuranceLimiter extends RateLimiterMemory {
  constructor(
    options: ConstructorParameters<typeof RateLimiterMemory>[0],
    private readonly onFallback: () => void,
  ) {
    super(options);
  }
  override consume(...args: Parameters<RateLimiterMemory['consume']>) {
    this.onFallback();
    return super.consume(...args);
  }
  /** A consume the owner sends here itself (Redis skipped): not a new failure. */
  consumeHere(...args: Parameters<RateLimiterMemory['consume']>) {
    return super.consume(...args);
  }
}
