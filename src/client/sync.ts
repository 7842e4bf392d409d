import { type BackoffOptions, createBackoff, shutdownDelay } from './backoff.js';
import type { CursorStore, SyncState } from './cursor-store.js';
import { SwitchboardError } from './errors.js';
import {
  type AnyFrame,
  type ClientFrame,
  type FrameError,
  parseFrame,
  type ServerFrame,
  type TypingEvent,
} from './frames.js';
import type { Rest } from './rest.js';
import { createSeenMessages } from './seen-messages.js';
import type { Session } from './session.js';
import type { Message, Presence, Receipt } from './types.js';
import { OPEN, type WebSocketConstructor, type WebSocketLike } from './websocket.js';

/** The first `after` of a conversation this client has no cursor for (src/ws/README.md). */
const FROM_THE_START = '00000000000000000000000000';
const PAGE_SIZE = 100;
/** Acks of a burst go as one frame per conversation: the gateway allows 20 frames/s per connection. */
const ACK_FLUSH_MS = 200;
const PRESENCE_BATCH = 100;

/**
 * - connecting: opening a socket; catching-up: `ready` came, pulling what was missed;
 * - live: caught up, new messages arrive as frames; offline: waiting to reconnect;
 * - stopped: `stop()` was called; signed-out: the refresh token was refused (sign in again).
 */
export type ConnectionState = 'connecting' | 'catching-up' | 'live' | 'offline' | 'stopped' | 'signed-out';

export interface SyncEvents {
  /** A message, once per id: `live` from a frame, `catch-up` from a history page. */
  message: (message: Message, meta: { source: 'live' | 'catch-up' }) => void;
  /**
   * A message you may already have changed: edited, deleted for everyone (the tombstone), its
   * thread summary moved. `live` from message.updated / message.deleted frames, `catch-up` from a
   * history page's `updates`. Replace your copy by id (a deletion is final).
   */
  changed: (message: Message, meta: { source: 'live' | 'catch-up' }) => void;
  /** A participant's delivered/read watermark moved (message.status). */
  status: (receipt: Receipt) => void;
  presence: (presence: Presence) => void;
  typing: (typing: TypingEvent) => void;
  /** The server said live delivery may have skipped something; a catch-up follows by itself. */
  resync: (reason: string) => void;
  connection: (state: ConnectionState) => void;
  /** A refused frame (FrameError) or a failed catch-up call (SwitchboardError); the loop goes on. */
  error: (error: SwitchboardError | FrameError) => void;
  /** Every frame, including types this SDK does not know yet. */
  event: (frame: AnyFrame) => void;
}

export interface SyncOptions {
  rest: Rest;
  session: Session;
  wsUrl: () => string;
  WebSocket: WebSocketConstructor;
  store: CursorStore;
  reconnect?: BackoffOptions;
  /** An application-level ping this often; no frame within `pongTimeoutMs` after it closes the socket. */
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
  /** A catch-up this often while connected, for messages stored just before the socket subscribed. */
  catchUpEveryMs?: number;
  random?: () => number;
}

/**
 * The client loop of src/ws/README.md, implemented once: connect, wait for `ready`, catch up
 * (inbox `changedSince`, then each changed conversation from its cursor), apply live frames,
 * catch up again on `resync`, reconnect with backoff and jitter, refresh the token on 1008 or a
 * refused upgrade, ack what was delivered. Cursors are only ever the server's: a client that
 * tracks "the newest id seen" instead misses a slow send whose id sorts below it, for good.
 */
export function createSync(options: SyncOptions) {
  const random = options.random ?? Math.random;
  const backoff = createBackoff(options.reconnect, random);
  const listeners: { [K in keyof SyncEvents]?: Set<SyncEvents[K]> } = {};
  const seen = createSeenMessages();
  const pendingAcks = new Map<string, string>();
  const presenceWanted = new Set<string>();
  let state: ConnectionState = 'stopped';
  let socket: WebSocketLike | undefined;
  let userId: string | undefined;
  let sync: SyncState | undefined;
  let running = false;
  let runs = 0;
  let wake: (() => void) | undefined;
  let ackTimer: ReturnType<typeof setTimeout> | undefined;
  let catchUp: Promise<void> | undefined;
  let catchUpAgain = false;
  const liveWaiters: Array<() => void> = [];

  function emit<K extends keyof SyncEvents>(type: K, ...args: Parameters<SyncEvents[K]>) {
    for (const listener of listeners[type] ?? []) {
      try {
        (listener as (...a: Parameters<SyncEvents[K]>) => void)(...args);
      } catch (error) {
        // A bug in one callback must not stop the loop (and so every later message).
        if (type !== 'error') emit('error', error instanceof SwitchboardError ? error : internal(error));
      }
    }
  }
  const internal = (error: unknown) =>
    new SwitchboardError({ code: 'INTERNAL', status: 0, detail: String(error), cause: error });

  function setState(next: ConnectionState) {
    if (next === state) return;
    state = next;
    emit('connection', next);
    if (next === 'live') for (const resolve of liveWaiters.splice(0)) resolve();
  }

  function send(frame: ClientFrame): boolean {
    if (!socket || socket.readyState !== OPEN || state === 'connecting') return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function flushAcks() {
    ackTimer = undefined;
    for (const [conversationId, messageId] of pendingAcks) {
      if (!send({ type: 'ack', data: { conversationId, messageId } })) return; // kept for the next `ready`
      pendingAcks.delete(conversationId);
    }
  }

  function deliver(message: Message, source: 'live' | 'catch-up') {
    const seenBefore = seen.offer(message);
    if (seenBefore === 'changed') emit('changed', message, { source });
    if (seenBefore !== 'new') return;
    emit('message', message, { source });
    if (message.senderId === userId) return;
    // Watermarks never go backwards on the server; keeping the highest id sends one ack, not many.
    const pending = pendingAcks.get(message.conversationId);
    if (pending === undefined || pending < message.id) pendingAcks.set(message.conversationId, message.id);
    ackTimer ??= setTimeout(flushAcks, ACK_FLUSH_MS);
  }

  async function save() {
    if (userId && sync) await options.store.save(userId, sync);
  }

  /** Pulls one conversation from its cursor until the server says there is no more. */
  async function pull(conversationId: string, current: SyncState) {
    for (;;) {
      const page = await options.rest.messages.history({
        conversationId,
        after: current.cursors[conversationId] ?? FROM_THE_START,
        limit: PAGE_SIZE,
      });
      for (const message of page.messages) deliver(message, 'catch-up');
      for (const message of page.updates) if (seen.changed(message)) emit('changed', message, { source: 'catch-up' });
      if (page.cursor) current.cursors[conversationId] = page.cursor;
      await save();
      if (!page.nextCursor) return;
    }
  }

  async function catchUpOnce(current: SyncState) {
    let cursor: string | undefined;
    let nextSyncCursor: string | undefined;
    const changed: string[] = [];
    do {
      const page = await options.rest.conversations.inbox(
        cursor
          ? { cursor, limit: 100 }
          : { limit: 100, ...(current.syncCursor ? { changedSince: current.syncCursor } : {}) },
      );
      nextSyncCursor ??= page.syncCursor;
      for (const left of page.left) delete current.cursors[left];
      for (const conversation of page.conversations) changed.push(conversation.id);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    for (const conversationId of changed) await pull(conversationId, current);
    // Only now: a syncCursor saved before every changed conversation was pulled would skip the rest.
    current.syncCursor = nextSyncCursor;
    await save();
  }

  /** Runs a catch-up; one asked for while one runs makes it run once more when done (coalescing). */
  function requestCatchUp() {
    catchUpAgain = true;
    if (catchUp) return;
    const connection = socket;
    catchUp = (async () => {
      while (catchUpAgain && running && socket === connection && sync) {
        catchUpAgain = false;
        try {
          await catchUpOnce(sync);
        } catch (error) {
          emit('error', error instanceof SwitchboardError ? error : internal(error));
          // Until a catch-up succeeds the client may lack messages: try again while connected.
          catchUpAgain = true;
          await sleep(1_000 + random() * 1_000);
        }
      }
      catchUp = undefined;
      // A new connection asked while this one was still winding down: its catch-up is owed.
      if (running && socket !== connection && catchUpAgain) requestCatchUp();
      else if (running && socket === connection && socket?.readyState === OPEN) setState('live');
    })();
  }

  async function onReady(data: { userId: string }) {
    backoff.reset();
    if (userId !== data.userId || !sync) {
      userId = data.userId;
      sync = (await options.store.load(userId)) ?? { cursors: {} };
    }
    setState('catching-up');
    flushAcks();
    subscribePresenceFrames([...presenceWanted]);
    requestCatchUp();
  }

  function onFrame(frame: AnyFrame) {
    emit('event', frame);
    const known = frame as ServerFrame;
    switch (known.type) {
      case 'ready':
        void onReady(known.data);
        return;
      case 'resync':
        emit('resync', known.data.reason);
        subscribePresenceFrames([...presenceWanted]); // a fresh snapshot, as the protocol asks
        if (state === 'live') setState('catching-up');
        requestCatchUp();
        return;
      case 'settled':
        // Everything stored before our `ready` is catch-up-visible now (src/ws/settled-notices.ts).
        requestCatchUp();
        return;
      case 'message.created':
        deliver(known.data.message, 'live');
        return;
      case 'message.updated':
      case 'message.deleted':
        if (seen.changed(known.data.message)) emit('changed', known.data.message, { source: 'live' });
        return;
      case 'message.status':
        emit('status', known.data);
        return;
      case 'presence':
      case 'typing':
      case 'error':
        (emit as (type: string, data: unknown) => void)(known.type, known.data);
        return;
      default:
        return;
    }
  }

  function subscribePresenceFrames(
    userIds: string[],
    type: 'presence.subscribe' | 'presence.unsubscribe' = 'presence.subscribe',
  ) {
    for (let i = 0; i < userIds.length; i += PRESENCE_BATCH) {
      send({ type, data: { userIds: userIds.slice(i, i + PRESENCE_BATCH) } });
    }
  }

  /** One connection, from open to close: resolves with how it ended. */
  function connectOnce(): Promise<{ code: number; opened: boolean }> {
    return new Promise((resolve) => {
      const token = options.session.current()?.token ?? '';
      const ws = new options.WebSocket(`${options.wsUrl()}?token=${encodeURIComponent(token)}`);
      socket = ws;
      let opened = false;
      let lastFrameAt = Date.now();
      const pingEvery = options.pingIntervalMs ?? 20_000;
      const pongTimeout = options.pongTimeoutMs ?? 10_000;
      // Browsers cannot see protocol pings: a dead link (a laptop's sleep, a NAT timeout) shows
      // only as silence, so ping and give up when nothing at all came back in time.
      // A message answered 201 just before this socket subscribed is not heard live, and the
      // catch-up after `ready` returns it only once its send settled on every node. The server's
      // `settled` frame says when that is; this timer is the net for what it cannot see (nodes'
      // clocks further apart than its margin): a cheap changedSince every `catchUpEveryMs`.
      const safetyNet = setInterval(() => socket === ws && requestCatchUp(), options.catchUpEveryMs ?? 30_000);
      const pinger = setInterval(() => {
        if (Date.now() - lastFrameAt > pingEvery + pongTimeout) ws.close(4000, 'no pong');
        else if (ws.readyState === OPEN) ws.send(JSON.stringify({ type: 'ping' }));
      }, pingEvery);
      ws.onopen = () => {
        opened = true;
      };
      ws.onmessage = (event) => {
        lastFrameAt = Date.now();
        const frame = parseFrame(event.data);
        if (frame) onFrame(frame);
      };
      ws.onerror = () => {};
      ws.onclose = (event) => {
        clearInterval(pinger);
        clearInterval(safetyNet);
        if (socket === ws) socket = undefined;
        resolve({ code: event.code, opened });
      };
    });
  }

  function sleep(ms: number) {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
    });
  }

  /**
   * After 1008 (token expired or session ended) refresh; after a socket that never opened (a
   * browser cannot read the upgrade's 401, it sees only a failed connect) ask /users/me, whose
   * 401 refreshes through the transport. false: the session is over, stop.
   */
  async function authStillGood(code: number, opened: boolean): Promise<boolean> {
    try {
      if (code === 1008) return await options.session.refresh();
      if (!opened) await options.rest.accounts.me();
      return true;
    } catch (error) {
      if (error instanceof SwitchboardError && error.status === 401) return false;
      return true; // the network or the server: back off and try again
    }
  }

  /**
   * `run` is this loop's number: after stop() and start() while the old socket is still closing,
   * the old loop must not carry on beside the new one (two sockets, every message twice).
   */
  async function loop(run: number) {
    const current = () => running && run === runs;
    while (current()) {
      setState('connecting');
      const { code, opened } = await connectOnce();
      if (!current()) break;
      setState('offline');
      if (!(await authStillGood(code, opened))) {
        if (!current()) break;
        running = false;
        setState('signed-out');
        break;
      }
      await sleep(code === 1001 ? shutdownDelay(random) : backoff.next());
    }
  }

  return {
    /** Starts the loop (idempotent); it runs until stop() or until the session is refused. */
    start() {
      if (running) return;
      running = true;
      void loop(++runs);
    },
    /** Closes the socket with 1000 and stops reconnecting. */
    stop() {
      running = false;
      wake?.();
      if (ackTimer) clearTimeout(ackTimer);
      ackTimer = undefined;
      socket?.close(1000, 'client stopped');
      setState('stopped');
    },
    /** Resolves once connected and caught up. */
    whenLive(): Promise<void> {
      if (state === 'live') return Promise.resolve();
      return new Promise((resolve) => liveWaiters.push(resolve));
    },
    get state() {
      return state;
    },
    on<K extends keyof SyncEvents>(type: K, listener: SyncEvents[K]): () => void {
      if (!listeners[type]) listeners[type] = new Set() as never;
      const set = listeners[type] as Set<SyncEvents[K]>;
      set.add(listener);
      return () => set.delete(listener);
    },
    /** Presence frames for these users now and after every reconnect or resync. */
    subscribePresence(userIds: string[]) {
      for (const id of userIds) presenceWanted.add(id);
      subscribePresenceFrames(userIds);
    },
    unsubscribePresence(userIds: string[]) {
      for (const id of userIds) presenceWanted.delete(id);
      subscribePresenceFrames(userIds, 'presence.unsubscribe');
    },
    /** Tells the others you are typing; false when not connected (nothing to retry: it is momentary). */
    typing: (conversationId: string) => send({ type: 'typing', data: { conversationId } }),
    /** Moves the read watermark: over the socket when connected, else over REST. */
    async markRead(conversationId: string, messageId: string) {
      if (send({ type: 'read', data: { conversationId, messageId } })) return;
      await options.rest.conversations.markAs(conversationId, { messageId, status: 'read' });
    },
  };
}

export type Sync = ReturnType<typeof createSync>;
