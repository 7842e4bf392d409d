import type { AuthResult } from './types.js';

/** The tokens of a signed-in client; persist them through `onTokens` to survive a reload. */
export interface Tokens {
  token: string;
  refreshToken: string | null;
}

export interface Session {
  current(): Tokens | undefined;
  /** Stores a sign-in's or a refresh's pair and tells `onTokens`. */
  set(tokens: Tokens | undefined): void;
  /** Adopts the pair of an AuthResult (register, sign-in, refresh). */
  adopt(result: AuthResult): void;
  /**
   * Rotates the refresh token, one rotation at a time however many callers ask at once: two
   * concurrent refreshes of one token make the server see a reuse and end the session (its
   * OAuth-style reuse detection), so a burst of 401s after an expiry must share one refresh.
   * Resolves false when there is no refresh token or the server refused it (signed out).
   */
  refresh(): Promise<boolean>;
}

/**
 * `rotate` is the POST /auth/refresh call (injected, so this module stays free of the transport
 * that itself asks the session to refresh).
 */
export function createSession(options: {
  initial?: Tokens | undefined;
  onTokens?: ((tokens: Tokens | undefined) => void) | undefined;
  rotate: (refreshToken: string) => Promise<AuthResult | 'refused'>;
}): Session {
  let tokens = options.initial;
  let inFlight: Promise<boolean> | undefined;
  const set = (next: Tokens | undefined) => {
    tokens = next;
    options.onTokens?.(next);
  };
  const adopt = (result: AuthResult) => set({ token: result.token, refreshToken: result.refreshToken });
  return {
    current: () => tokens,
    set,
    adopt,
    refresh() {
      if (inFlight) return inFlight;
      const refreshToken = tokens?.refreshToken;
      if (!refreshToken) return Promise.resolve(false);
      inFlight = (async () => {
        try {
          const result = await options.rotate(refreshToken);
          if (result === 'refused') {
            set(undefined);
            return false;
          }
          adopt(result);
          return true;
        } finally {
          inFlight = undefined;
        }
      })();
      return inFlight;
    },
  };
}
