import type { BackoffOptions } from './backoff.js';
import { type CursorStore, memoryCursorStore } from './cursor-store.js';
import { SwitchboardError } from './errors.js';
import { createRest } from './rest.js';
import { createSession, type Tokens } from './session.js';
import { createSync } from './sync.js';
import { createTransport } from './transport.js';
import type { AuthResult } from './types.js';
import { platformWebSocket, type WebSocketConstructor } from './websocket.js';

export interface ClientOptions {
  /** The API's origin, e.g. `https://chat.example.com` (a function: asked again before each call and connect). */
  baseUrl: string | (() => string);
  /** Tokens from an earlier run (what `onTokens` last gave you); omit and call login/register. */
  tokens?: Tokens;
  /** Called with every new pair (sign-in, refresh) and with undefined on sign-out: persist it. */
  onTokens?: (tokens: Tokens | undefined) => void;
  /** Defaults to the platform's fetch. */
  fetch?: typeof fetch;
  /** Defaults to the platform's WebSocket; on Node 20 pass the `ws` package's. */
  WebSocket?: WebSocketConstructor;
  /** Where sync cursors live between runs; memory by default (localStorageCursorStore in browsers). */
  cursorStore?: CursorStore;
  reconnect?: BackoffOptions;
  /** How long one REST call may take before it fails with NETWORK (default 20 s). */
  requestTimeoutMs?: number;
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
}

/** A Switchboard client: typed REST calls plus the one sync loop (`client.sync`). */
export function createClient(options: ClientOptions) {
  const baseUrl = typeof options.baseUrl === 'function' ? options.baseUrl : () => options.baseUrl as string;
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  const session = createSession({
    initial: options.tokens,
    onTokens: options.onTokens,
    async rotate(refreshToken) {
      try {
        return (await transport('post', '/auth/refresh', { body: { refreshToken }, auth: false })) as AuthResult;
      } catch (error) {
        if (error instanceof SwitchboardError && error.status === 401) return 'refused';
        throw error;
      }
    },
  });
  const transport = createTransport({ baseUrl, fetch: fetchImpl, session, timeoutMs: options.requestTimeoutMs });
  const rest = createRest(transport, session);
  let sync: ReturnType<typeof createSync> | undefined;
  return {
    ...rest,
    /** The current tokens (undefined when signed out). */
    tokens: () => session.current(),
    /**
     * The sync loop: `client.sync.on('message', …)`, then `client.sync.start()`. Built on first
     * use, so a REST-only client needs no WebSocket implementation.
     */
    get sync() {
      if (sync) return sync;
      const WebSocket = options.WebSocket ?? platformWebSocket();
      if (!WebSocket) throw new TypeError('no WebSocket on this platform: pass one as the WebSocket option (ws)');
      sync = createSync({
        rest,
        session,
        WebSocket,
        wsUrl: () => `${baseUrl().replace(/\/$/, '').replace(/^http/, 'ws')}/ws`,
        store: options.cursorStore ?? memoryCursorStore(),
        ...(options.reconnect ? { reconnect: options.reconnect } : {}),
        ...(options.pingIntervalMs ? { pingIntervalMs: options.pingIntervalMs } : {}),
        ...(options.pongTimeoutMs ? { pongTimeoutMs: options.pongTimeoutMs } : {}),
      });
      return sync;
    },
  };
}

export type SwitchboardClient = ReturnType<typeof createClient>;
