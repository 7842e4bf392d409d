/**
 * switchboard/client: the TypeScript SDK (README.md beside this file). No server code and no
 * runtime dependency: fetch and WebSocket come from the platform (or the options).
 */
export { type ClientOptions, createClient, type SwitchboardClient } from './client.js';
export {
  type CursorStore,
  localStorageCursorStore,
  memoryCursorStore,
  type StorageLike,
  type SyncState,
} from './cursor-store.js';
export { SwitchboardError } from './errors.js';
export type { AnyFrame, ClientFrame, FrameError, ServerFrame, TypingEvent } from './frames.js';
export type { Tokens } from './session.js';
export type { ConnectionState, SyncEvents } from './sync.js';
export type * from './types.js';
export type { WebSocketConstructor, WebSocketLike } from './websocket.js';
