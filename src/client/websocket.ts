/**
 * The part of the WebSocket API the SDK uses, as both the browser's (and Node ≥ 22's global)
 * WebSocket and the `ws` package implement it, so Node 20 callers pass `ws` as an option and the
 * SDK carries no dependency on it.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export const OPEN = 1;

/** The platform's WebSocket, if it has one (browsers, Node ≥ 22). */
export function platformWebSocket(): WebSocketConstructor | undefined {
  return (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
}
