import type { WebSocket } from 'ws';
import type { ClientEvent } from '../realtime/events.js';
import type { RealtimeConnection } from '../services/ports.js';
import { CLOSE_CODES, encodeEvent } from './protocol.js';

export type ConnectionState = 'open' | 'closing' | 'closed';

/** After close(), how long the peer gets to answer the closing handshake before the socket is cut. */
export const CLOSE_TIMEOUT_MS = 5000;
/** Frames held back while the connection is being set up (before `ready`). */
const MAX_PENDING_FRAMES = 1000;

/** One event is encoded once however many connections it goes to. */
const encoded = new WeakMap<ClientEvent, string>();
function encodeOnce(event: ClientEvent): string {
  let text = encoded.get(event);
  if (text === undefined) {
    text = encodeEvent(event);
    encoded.set(event, text);
  }
  return text;
}

export interface Connection extends RealtimeConnection {
  readonly state: ConnectionState;
  /** Sends a frame (held back until `open()`); false when the connection is not open. */
  send(text: string): boolean;
  /** Sends the first frame and everything held back meanwhile; starts the heartbeat. */
  open(readyFrame: string): void;
  /** Idempotent: starts the closing handshake once; the socket is cut if the peer does not answer. */
  close(code: number, reason: string): void;
  /** Settles once the socket is gone and `onClosing` finished. */
  readonly closed: Promise<void>;
}

/**
 * A client connection: its state (`open → closing → closed`), heartbeat, send path with
 * slow-consumer protection, and one idempotent close. `onClosing` runs exactly once, as soon as
 * the connection stops being open (whoever closed it), so its user's subscriptions and presence
 * are released without waiting for the closing handshake.
 */
export function createConnection(options: {
  socket: WebSocket;
  id: string;
  userId: string;
  heartbeatMs: number;
  maxBufferedBytes: number;
  onClosing: (connection: Connection, code: number) => Promise<void>;
}): Connection {
  const { socket } = options;
  let state: ConnectionState = 'open';
  let pending: string[] | undefined = [];
  let alive = true;
  let heartbeat: NodeJS.Timeout | undefined;
  let cutTimer: NodeJS.Timeout | undefined;
  let cleanup: Promise<void> = Promise.resolve();
  let resolveClosed: () => void = () => {};
  const socketGone = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });

  function leaveOpen(code: number) {
    if (state !== 'open') return;
    state = 'closing';
    pending = undefined;
    clearInterval(heartbeat);
    cleanup = options.onClosing(connection, code).catch(() => {});
  }

  function write(text: string): boolean {
    if (socket.bufferedAmount > options.maxBufferedBytes) {
      connection.close(CLOSE_CODES.SLOW_CONSUMER, 'slow consumer');
      return false;
    }
    socket.send(text);
    return true;
  }

  const connection: Connection = {
    id: options.id,
    userId: options.userId,
    get state() {
      return state;
    },
    closed: socketGone.then(() => cleanup),

    send(text) {
      if (state !== 'open') return false;
      if (pending) {
        if (pending.length >= MAX_PENDING_FRAMES) {
          connection.close(CLOSE_CODES.SLOW_CONSUMER, 'slow consumer');
          return false;
        }
        pending.push(text);
        return true;
      }
      return write(text);
    },

    deliver(event) {
      connection.send(encodeOnce(event));
    },

    open(readyFrame) {
      if (state !== 'open' || !pending) return;
      const held = pending;
      pending = undefined;
      if (!write(readyFrame)) return;
      for (const text of held) if (!write(text)) return;
      heartbeat = setInterval(() => {
        if (!alive) {
          // No pong since the last ping: the peer is gone without a close (network cut).
          socket.terminate();
          return;
        }
        alive = false;
        socket.ping();
      }, options.heartbeatMs);
      heartbeat.unref();
    },

    close(code, reason) {
      if (state !== 'open') return;
      leaveOpen(code);
      socket.close(code, reason);
      cutTimer = setTimeout(() => socket.terminate(), CLOSE_TIMEOUT_MS);
      cutTimer.unref();
    },
  };

  socket.on('pong', () => {
    alive = true;
  });
  socket.on('message', () => {
    alive = true;
  });
  // Errors (e.g. an oversized frame, answered by ws with 1009) are followed by 'close'.
  socket.on('error', () => {});
  socket.on('close', (code: number) => {
    leaveOpen(code);
    state = 'closed';
    clearTimeout(cutTimer);
    resolveClosed();
  });

  return connection;
}
