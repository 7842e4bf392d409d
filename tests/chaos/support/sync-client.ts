import WebSocket from 'ws';
import type { TestUser } from '../../support/api.js';
import { sleep } from './topology.js';

/** The smallest id: where a conversation the client has no cursor for starts (src/ws/README.md). */
const ZERO_ID = '00000000000000000000000000';
const CALL_TIMEOUT_MS = 10_000;

export type Answer = { status: number; body: any; ms: number } | { status: undefined; error: string; ms: number };

/** One HTTP call that gives up after 10 s: a network error or timeout is `status: undefined`. */
export async function call(baseUrl: string, method: 'GET' | 'POST', path: string, token: string, body?: unknown) {
  const started = performance.now();
  try {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // nginx's own error pages are HTML: keep the text
    }
    return { status: response.status, body: parsed, ms: performance.now() - started } as Answer;
  } catch (error) {
    return { status: undefined, error: (error as Error).name, ms: performance.now() - started } as Answer;
  }
}

/** `201`, `503 UNAVAILABLE`, `502` (nginx), `network`: how an answer is counted in the report. */
export const outcomeOf = (answer: Answer) =>
  answer.status === undefined
    ? `network (${answer.error})`
    : answer.status < 400
      ? String(answer.status)
      : `${answer.status}${typeof answer.body === 'object' && answer.body?.code ? ` ${answer.body.code}` : ''}`;

/** The documented loop's safety net: a catch-up every 30 s while connected. */
const PERIODIC_CATCH_UP_MS = 30_000;

/**
 * A WebSocket client that follows the documented loop (src/ws/README.md, "Reconnecting without
 * losing messages") with server-issued cursors only, through the balancer: connect, wait for
 * `ready`, catch up, apply `message.created`, catch up again on `resync` and on `settled` and every
 * 30 s while connected, reconnect on close (1001 at once with a little jitter, anything else with
 * backoff).
 */
export class SyncClient {
  readonly received = new Set<string>();
  /** What arrived as a live `message.created` frame (not through a catch-up). */
  readonly live = new Set<string>();
  /** Every message a catch-up returned: id → content (duplicates are told by content). */
  readonly pulled = new Map<string, string>();
  readonly closeCodes: number[] = [];
  connections = 0;
  resyncs = 0;
  /** `settled` frames received (one per connection, once what was stored before its `ready` is visible). */
  settledFrames = 0;
  private readonly cursors = new Map<string, string>();
  private syncCursor: string | undefined;
  private stopped = false;
  private socket: WebSocket | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly baseUrl: string,
    readonly user: TestUser,
  ) {}

  /** Pulls one conversation from its cursor to the end; false when a call failed (try again later). */
  private async pull(conversationId: string): Promise<boolean> {
    for (;;) {
      const query = new URLSearchParams({
        conversationId,
        limit: '100',
        after: this.cursors.get(conversationId) ?? ZERO_ID,
      });
      const page = await call(this.baseUrl, 'GET', `/api/v1/messages?${query}`, this.user.token);
      if (page.status !== 200) return false;
      for (const message of page.body.messages) {
        this.received.add(message.id);
        this.pulled.set(message.id, message.content);
      }
      this.cursors.set(conversationId, page.body.cursor);
      if (!page.body.nextCursor) return true;
    }
  }

  /** One catch-up: the inbox's changes since the last syncCursor, then each changed conversation. */
  async catchUp(): Promise<boolean> {
    let pageCursor: string | undefined;
    let nextSyncCursor: string | undefined;
    const changed: string[] = [];
    do {
      const query = new URLSearchParams({ limit: '50' });
      if (this.syncCursor) query.set('changedSince', this.syncCursor);
      if (pageCursor) query.set('cursor', pageCursor);
      const inbox = await call(this.baseUrl, 'GET', `/api/v1/conversations?${query}`, this.user.token);
      if (inbox.status !== 200) return false;
      nextSyncCursor ??= inbox.body.syncCursor;
      for (const conversation of inbox.body.conversations) changed.push(conversation.id);
      pageCursor = inbox.body.nextCursor ?? undefined;
    } while (pageCursor);
    for (const conversationId of changed) if (!(await this.pull(conversationId))) return false;
    // Only once every changed conversation is pulled may the next catch-up start from here.
    this.syncCursor = nextSyncCursor;
    return true;
  }

  /** The conversations a catch-up has pulled so far. */
  conversationIds(): string[] {
    return [...this.cursors.keys()];
  }

  /** Opens a connection and resolves once `ready` arrived (rejects on close or after 10 s). */
  private open(onFrame: (frame: { type: string; data: any }) => void): Promise<WebSocket> {
    const url = `${this.baseUrl.replace(/^http/, 'ws')}/ws?token=${encodeURIComponent(this.user.token)}`;
    const ws = new WebSocket(url);
    ws.on('error', () => {});
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error('no ready in 10 s'));
      }, 10_000);
      ws.on('message', (data) => {
        const frame = JSON.parse(data.toString());
        if (frame.type === 'ready') {
          clearTimeout(timer);
          resolve(ws);
        }
        onFrame(frame);
      });
      ws.once('close', () => {
        clearTimeout(timer);
        reject(new Error('closed before ready'));
      });
    });
  }

  start() {
    this.loop = this.run();
  }

  private async run() {
    let backoff = 500;
    while (!this.stopped) {
      let pendingResync = true; // a fresh connection catches up first
      let ws: WebSocket;
      try {
        ws = await this.open((frame) => {
          if (frame.type === 'message.created') {
            this.received.add(frame.data.message.id);
            this.live.add(frame.data.message.id);
          }
          if (frame.type === 'resync') {
            this.resyncs++;
            pendingResync = true;
          }
          if (frame.type === 'settled') {
            this.settledFrames++;
            pendingResync = true;
          }
        });
      } catch {
        await sleep(backoff + Math.random() * 250);
        backoff = Math.min(backoff * 2, 5_000);
        continue;
      }
      this.socket = ws;
      this.connections++;
      backoff = 500;
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      let code: number | undefined;
      void closed.then((c) => {
        code = c;
      });
      let nextPeriodic = Date.now() + PERIODIC_CATCH_UP_MS;
      while (!this.stopped && code === undefined) {
        if (Date.now() >= nextPeriodic) {
          nextPeriodic = Date.now() + PERIODIC_CATCH_UP_MS;
          pendingResync = true;
        }
        if (pendingResync) {
          pendingResync = false;
          if (!(await this.catchUp())) {
            pendingResync = true;
            await sleep(500);
          }
        }
        await sleep(50);
      }
      if (this.stopped) break;
      const closeCode = code ?? (await closed);
      this.closeCodes.push(closeCode);
      if (closeCode === 1001) await sleep(Math.random() * 1_000);
      else {
        await sleep(backoff + Math.random() * 250);
        backoff = Math.min(backoff * 2, 5_000);
      }
    }
  }

  async stop() {
    this.stopped = true;
    this.socket?.terminate();
    await this.loop;
  }
}
