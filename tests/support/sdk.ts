import WebSocket from 'ws';
import { type ClientOptions, createClient, type SwitchboardClient, SwitchboardError } from '../../src/client/index.js';
import type { WebSocketConstructor } from '../../src/client/websocket.js';
import { uniqueUsername } from './api.js';

/**
 * SDK clients for tests: Node 20 has fetch but no global WebSocket, so the `ws` package is passed
 * in, exactly as the SDK's README tells Node 20 users to.
 */
export const PASSWORD = 'correct-horse-battery';

export const sdkClient = (baseUrl: string | (() => string), options: Partial<ClientOptions> = {}) =>
  createClient({ baseUrl, WebSocket: WebSocket as unknown as WebSocketConstructor, ...options });

/** A fresh account, signed in through the SDK. */
export async function sdkUser(
  baseUrl: string | (() => string),
  prefix = 'sdk',
  options: Partial<ClientOptions> = {},
): Promise<{ client: SwitchboardClient; id: string; username: string }> {
  const client = sdkClient(baseUrl, options);
  const username = uniqueUsername(prefix);
  const { user } = await client.accounts.register({ username, password: PASSWORD });
  return { client, id: user.id, username };
}

/** The SwitchboardError a promise rejects with (fails the test if it resolves or throws another). */
export async function rejection(promise: Promise<unknown>): Promise<SwitchboardError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SwitchboardError) return error;
    throw error;
  }
  throw new Error('expected a SwitchboardError, the call succeeded');
}

/** Resolves when `check` is true, polling; rejects after `timeoutMs` naming `what`. */
export async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
