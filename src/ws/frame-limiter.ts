/**
 * A token bucket per WebSocket connection: `ratePerSecond` frames a second on average, bursts of
 * up to `burst`. Every inbound frame costs one token, pings included (1,000 pings a second once
 * all got a pong). A connection lives on one node, so its bucket needs no Redis.
 *
 * Refusals are counted over a sliding window: a client that keeps sending after being told
 * (`RATE_LIMITED` error frames) is not slowed by them, so past `closeAfter` refusals within
 * `windowMs` the gateway closes it (close code 4029) instead of answering each frame.
 */
export interface FrameLimiter {
  /** 'ok' to handle the frame, 'limited' to refuse it, 'abusive' to close the connection. */
  take(now?: number): 'ok' | 'limited' | 'abusive';
  /** Milliseconds until the next frame would be accepted. */
  retryAfterMs(now?: number): number;
}

export function createFrameLimiter(options: {
  ratePerSecond: number;
  burst: number;
  closeAfter: number;
  windowMs?: number;
  now?: number;
}): FrameLimiter {
  const windowMs = options.windowMs ?? 10_000;
  let tokens = options.burst;
  let refilledAt = options.now ?? Date.now();
  let refusals = 0;
  let windowStart = refilledAt;

  function refill(now: number) {
    const elapsed = now - refilledAt;
    if (elapsed > 0) {
      tokens = Math.min(options.burst, tokens + (elapsed * options.ratePerSecond) / 1000);
      refilledAt = now;
    }
  }

  return {
    take(now = Date.now()) {
      refill(now);
      if (tokens >= 1) {
        tokens -= 1;
        return 'ok';
      }
      if (now - windowStart > windowMs) {
        windowStart = now;
        refusals = 0;
      }
      refusals++;
      return refusals > options.closeAfter ? 'abusive' : 'limited';
    },
    retryAfterMs(now = Date.now()) {
      refill(now);
      return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * 1000) / options.ratePerSecond);
    },
  };
}
