import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import type { ApiClient, TestUser } from './api.js';

/** A frame as the server sends it. */
export type Frame = { type: string; data: any };

export interface TestSocket {
  ws: WebSocket;
  /** Every frame received so far, in order. */
  frames: Frame[];
  /** The `ready` frame's data. */
  ready: { userId: string; connectionId: string; heartbeatMs: number };
  /** Resolves with the first frame (already received or coming) that matches. */
  waitFor(type: string, predicate?: (data: Frame['data']) => boolean, timeoutMs?: number): Promise<Frame>;
  /** Frames of one type received so far. */
  ofType(type: string): Frame[];
  send(frame: unknown): void;
  /** Resolves once the socket closed, with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<{ code: number; reason: string }>;
}

const WAIT_MS = 15_000;

/** The gateway URL of a server's base URL. */
export const wsUrl = (baseUrl: string, path = '/ws') => `${baseUrl.replace(/^http/, 'ws')}${path}`;

/** Opens an authenticated connection and waits for `ready`. */
export async function connectWs(
  baseUrl: string,
  token: string,
  options: { via?: 'query' | 'header'; path?: string } = {},
): Promise<TestSocket> {
  const via = options.via ?? 'query';
  const url = wsUrl(baseUrl, options.path) + (via === 'query' ? `?token=${encodeURIComponent(token)}` : '');
  const ws = new WebSocket(url, via === 'header' ? { headers: { authorization: `Bearer ${token}` } } : {});
  const frames: Frame[] = [];
  const listeners = new Set<(frame: Frame) => void>();
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as Frame;
    frames.push(frame);
    for (const listener of [...listeners]) listener(frame);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  ws.on('error', () => {});

  function waitFor(type: string, predicate: (data: Frame['data']) => boolean = () => true, timeoutMs = WAIT_MS) {
    const found = frames.find((frame) => frame.type === type && predicate(frame.data));
    if (found) return Promise.resolve(found);
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(
          new Error(
            `no ${type} frame matched within ${timeoutMs} ms; got ${JSON.stringify(frames.map((f) => f.type))}`,
          ),
        );
      }, timeoutMs);
      const listener = (frame: Frame) => {
        if (frame.type !== type || !predicate(frame.data)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        resolve(frame);
      };
      listeners.add(listener);
      void closed.then(({ code }) => {
        if (!listeners.has(listener)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        reject(new Error(`socket closed (${code}) before a ${type} frame arrived`));
      });
    });
  }

  const ready = await Promise.race([
    waitFor('ready'),
    closed.then(({ code, reason }) => Promise.reject(new Error(`closed ${code} ${reason} before ready`))),
  ]);
  return {
    ws,
    frames,
    ready: ready.data,
    waitFor,
    ofType: (type) => frames.filter((frame) => frame.type === type),
    send: (frame) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
    closed,
    async close() {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000);
      // A socket that stopped reading (or a server that stopped answering) must not hold a test up.
      const cut = setTimeout(() => ws.terminate(), 2000);
      const result = await closed;
      clearTimeout(cut);
      return result;
    },
  };
}

/** Attempts an upgrade that should be refused; resolves with the HTTP answer. */
export function refusedUpgrade(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.on('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    ws.on('error', (error) => reject(error));
  });
}

/** Polls `check` until it returns a value other than undefined (bounded). */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = WAIT_MS, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * After a Redis fault: sends one-to-one messages from `sender` to `receiver` (each must be
 * stored: 201, or it throws) until one reaches `socket` live within `perSendMs`, or `withinMs`
 * has passed. Resolves whether one arrived and how many sends it took.
 */
export async function sendUntilLive(
  api: ApiClient,
  sender: TestUser,
  receiver: TestUser,
  socket: TestSocket,
  options: { withinMs: number; perSendMs?: number; label?: string },
): Promise<{ delivered: boolean; attempts: number }> {
  const started = Date.now();
  let attempts = 0;
  while (Date.now() - started < options.withinMs) {
    attempts++;
    const content = `${options.label ?? 'after'} ${attempts}`;
    const sent = await api.post('/api/v1/messages', { receiverId: receiver.id, content }, sender.token);
    if (sent.status !== 201) throw new Error(`send ${attempts} answered ${sent.status}: ${JSON.stringify(sent.body)}`);
    const id = sent.body.message.id as string;
    const arrived = await socket
      .waitFor('message.created', (data) => data.message.id === id, options.perSendMs ?? 300)
      .then(() => true)
      .catch(() => false);
    if (arrived) return { delivered: true, attempts };
  }
  return { delivered: false, attempts };
}
