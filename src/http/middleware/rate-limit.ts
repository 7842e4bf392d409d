import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { addressSubject, clientAddress, type TrustedProxies } from '../../domain/client-address.js';
import { AppError } from '../../domain/errors.js';
import type { LimitDecision, Limiter } from '../../limits/rate-limits.js';
import type { TokenService } from '../../services/tokens.js';
import type { AppEnv } from '../context.js';
import { bearerToken } from './auth.js';

/**
 * HTTP rate-limit middleware over the limiters of src/limits/rate-limits.ts. Every limited
 * response, allowed or refused, carries the IETF draft headers (draft-ietf-httpapi-ratelimit-headers):
 * `RateLimit-Policy: "sends-burst";q=30;w=10` and `RateLimit: "sends-burst";r=12;t=7`, one list
 * member per policy that applied. A refusal is a 429 problem+json with code RATE_LIMITED and a
 * `Retry-After` in whole seconds (≥ 1).
 */

/** How the middleware finds the client's address: the socket peer, X-Forwarded-For only from trusted proxies. */
export interface ClientAddressOptions {
  trustedProxies: TrustedProxies;
}

/** Who is calling: the user id set by app-level auth, otherwise the bearer token's (verified, cached). */
export interface IdentifyOptions {
  tokens: Pick<TokenService, 'verify'>;
}

/** The rate-limit subject of the request's client address (IPv6 by /64). */
export function clientSubject(c: Context, options: ClientAddressOptions): string {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return addressSubject(
    clientAddress({
      remoteAddress: incoming?.socket?.remoteAddress,
      forwardedFor: c.req.header('x-forwarded-for'),
      trustedProxies: options.trustedProxies,
    }),
  );
}

async function callerId(c: Context<AppEnv>, options: IdentifyOptions): Promise<string | undefined> {
  const known = c.get('userId') as string | undefined;
  if (known) return known;
  const token = bearerToken(c.req.header('authorization'));
  return token ? options.tokens.verify(token) : undefined;
}

/** `"name";q=<quota>;w=<window seconds>` for each policy (a structured-field list). */
export function formatRateLimitPolicy(decisions: readonly LimitDecision[]): string {
  return decisions
    .map(({ policy }) => `${sfString(policy.name)};q=${policy.quota};w=${policy.windowSeconds}`)
    .join(', ');
}

/** `"name";r=<remaining>;t=<seconds to reset>` for each policy (a structured-field list). */
export function formatRateLimit(decisions: readonly LimitDecision[]): string {
  return decisions
    .map((decision) => {
      const reset = decision.allowed ? Math.ceil(decision.resetMs / 1000) : decision.retryAfterSeconds;
      return `${sfString(decision.policy.name)};r=${decision.remaining};t=${reset}`;
    })
    .join(', ');
}

/** An sf-string: printable ASCII, `"` and `\` escaped. Policy names are ours, so this is belt and braces. */
function sfString(value: string): string {
  return `"${value.replace(/[^\x20-\x7e]/g, '').replace(/["\\]/g, '\\$&')}"`;
}

/**
 * Consumes one point of each (limiter, subject) at once. If any refuses, the points the others
 * counted are given back (a refused request did no work) and the request fails with 429; the
 * headers name every policy that applied.
 */
async function enforce(c: Context, checks: ReadonlyArray<readonly [Limiter, string]>): Promise<LimitDecision[]> {
  const decisions = await Promise.all(checks.map(([limiter, subject]) => limiter.consume(subject)));
  setHeaders(c, decisions);
  const refused = decisions.filter((decision) => !decision.allowed);
  if (refused.length === 0) return decisions;
  await Promise.all(
    checks.map(([limiter, subject], index) => (decisions[index]?.allowed ? limiter.refund(subject) : undefined)),
  );
  throw rateLimited(c, refused);
}

function setHeaders(c: Context, decisions: readonly LimitDecision[]) {
  if (decisions.length === 0) return;
  // Several middleware may each add their policies: the list members accumulate.
  c.header('RateLimit-Policy', formatRateLimitPolicy(decisions), { append: true });
  c.header('RateLimit', formatRateLimit(decisions), { append: true });
}

function rateLimited(c: Context, refused: readonly LimitDecision[]): AppError {
  const retryAfter = Math.max(...refused.map((decision) => decision.retryAfterSeconds));
  c.header('Retry-After', String(retryAfter));
  const names = refused.map((decision) => decision.policy.name).join(', ');
  return new AppError('RATE_LIMITED', `Too many requests (${names}); retry after ${retryAfter} s`);
}

/**
 * Every /api request: per client address (`ip`), and per user (`user`) when the caller is
 * identified (by app-level auth, or here from the bearer token). Give both to count both in one
 * step, or mount it twice — `{ ip, address }` before authentication, so floods of bad tokens are
 * counted too, and `{ user, identify }` after it — always before the body is read.
 */
export function restRateLimit(options: {
  ip?: Limiter;
  user?: Limiter;
  address?: ClientAddressOptions;
  identify?: IdentifyOptions;
}) {
  const { ip, user, address, identify } = options;
  if (ip && !address) throw new Error('restRateLimit: a per-address limit needs `address`');
  if (user && !identify) throw new Error('restRateLimit: a per-user limit needs `identify`');
  return createMiddleware<AppEnv>(async (c, next) => {
    const userId = user && identify ? await callerId(c, identify) : undefined;
    await enforce(c, [
      ...(ip && address ? [[ip, clientSubject(c, address)] as const] : []),
      ...(user && userId ? [[user, userId] as const] : []),
    ]);
    return next();
  });
}

/** POST /api/v1/users: account creation per client address. Mount before the body is read. */
export function registrationRateLimit(options: { ip: Limiter; address: ClientAddressOptions; path?: string }) {
  const path = options.path ?? '/api/v1/users';
  return createMiddleware<AppEnv>(async (c, next) => {
    if (c.req.method === 'POST' && c.req.path === path)
      await enforce(c, [[options.ip, clientSubject(c, options.address)]]);
    return next();
  });
}

/** POST /api/v1/messages: a user's burst and sustained send rates. Mount after authentication, before the body is read. */
export function sendRateLimit(options: {
  burst: Limiter;
  sustained: Limiter;
  identify: IdentifyOptions;
  path?: string;
}) {
  const path = options.path ?? '/api/v1/messages';
  return createMiddleware<AppEnv>(async (c, next) => {
    if (c.req.method !== 'POST' || c.req.path !== path) return next();
    // An anonymous send is refused by authentication; nothing to count.
    const userId = await callerId(c, options.identify);
    if (userId) {
      await enforce(c, [
        [options.burst, userId],
        [options.sustained, userId],
      ]);
    }
    return next();
  });
}

/**
 * POST /api/v1/auth/token: brute-force protection. Each attempt reserves a failure on the account
 * and on the client address before the password is checked, so N parallel guesses cannot all slip
 * past a check-then-count; the outcome settles it: a 401 keeps the failures, a success resets the
 * account's run and gives back the address's reservation, anything else (400, 5xx) gives both
 * back. An account (or address) at its quota is locked for its lock time, and a correct password
 * is refused too until then. Also counts every attempt against a slower per-address ceiling.
 * Needs the parsed body: mount after jsonBody.
 */
export function loginRateLimit(options: {
  account: Limiter;
  ipFailures: Limiter;
  ip: Limiter;
  address: ClientAddressOptions;
  path?: string;
}) {
  const path = options.path ?? '/api/v1/auth/token';
  return createMiddleware<AppEnv>(async (c, next) => {
    if (c.req.method !== 'POST' || c.req.path !== path) return next();
    const address = clientSubject(c, options.address);
    const username = await usernameOf(c);
    const failures: Array<readonly [Limiter, string]> = [
      [options.ipFailures, address],
      ...(username ? [[options.account, username] as const] : []),
    ];
    await enforce(c, [[options.ip, address], ...failures]);
    let status: number;
    try {
      await next();
      status = c.res.status;
    } catch (error) {
      status = error instanceof AppError && error.code === 'UNAUTHENTICATED' ? 401 : 500;
      await settle(status);
      throw error;
    }
    await settle(status);

    async function settle(outcome: number) {
      if (outcome === 401) return;
      const [ipFailures, account] = failures;
      await Promise.all([
        ipFailures ? ipFailures[0].refund(ipFailures[1]) : undefined,
        account ? (outcome < 300 ? account[0].reset(account[1]) : account[0].refund(account[1])) : undefined,
      ]);
    }
  });
}

/** The username the login names, as the account service keys it (lower case); undefined if absent. */
async function usernameOf(c: Context): Promise<string | undefined> {
  try {
    const body = (await c.req.json()) as { username?: unknown } | null;
    const username = body && typeof body === 'object' ? body.username : undefined;
    return typeof username === 'string' && username.length > 0 && username.length <= 64
      ? username.toLowerCase()
      : undefined;
  } catch {
    return undefined;
  }
}
