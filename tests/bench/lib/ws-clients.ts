import { existsSync } from 'node:fs';
import WebSocket from 'ws';
import { forEachConcurrent } from './load.js';
import type { SeedUser } from './seed.js';
import { REPO } from './stack.js';

/**
 * Real WebSocket clients against the gateway's contract: `ws://HOST:PORT/ws?token=<jwt>`, server
 * frames `{ type, data }`, `message.created` carrying `{ message }`.
 */
export interface ServerFrame {
  type: string;
  data?: { message?: { id: string; senderId: string; content: string } };
}

export interface WsClient {
  userId: string;
  socket: WebSocket;
}

export type FrameHandler = (client: WsClient, frame: ServerFrame, receivedAt: number) => void;

/** Why WebSocket scenarios cannot run yet, or undefined when the gateway is there. */
export function gatewayMissingReason(): string | undefined {
  return existsSync(`${REPO}src/ws/gateway.ts`)
    ? undefined
    : 'the WebSocket gateway (src/ws/gateway.ts) does not exist yet';
}

export const hrNow = () => Number(process.hrtime.bigint()) / 1e6;

export const wsUrl = (httpUrl: string, token: string) =>
  `${httpUrl.replace(/^http/, 'ws')}/ws?token=${encodeURIComponent(token)}`;

export interface ClientSet {
  clients: WsClient[];
  failed: number;
  firstError: string | undefined;
  /** Replaces the frame handler (one per phase of a scenario). */
  onFrame(handler: FrameHandler): void;
  close(): Promise<void>;
}

/**
 * Connects one client per user, user i to node i mod nodes.length, `concurrency` handshakes at
 * a time. Clients behave like browsers: they offer permessage-deflate and answer pings.
 */
export function connectClients(
  nodeUrls: readonly string[],
  users: readonly SeedUser[],
  concurrency = 100,
): Promise<ClientSet> {
  return connectEach(
    users,
    concurrency,
    (user, index) => open(wsUrl(nodeUrls[index % nodeUrls.length] as string, user.token)),
    (data) => [JSON.parse(data.toString()) as ServerFrame],
  );
}

/**
 * One client per user through `connect` (`concurrency` at a time), gathered into a set whose
 * frames all go to one handler. `decode` turns a WebSocket message into the frames it carries
 * (it may answer on the socket, e.g. a ping); what it cannot parse is not a frame and is ignored.
 */
export async function connectEach<U extends { id: string }>(
  users: readonly U[],
  concurrency: number,
  connect: (user: U, index: number) => Promise<WebSocket>,
  decode: (data: WebSocket.RawData, socket: WebSocket) => ServerFrame[],
): Promise<ClientSet> {
  let handler: FrameHandler = () => {};
  const clients: WsClient[] = [];
  let failed = 0;
  let firstError: string | undefined;
  await forEachConcurrent(users, concurrency, async (user, index) => {
    try {
      const socket = await connect(user, index);
      const client = { userId: user.id, socket };
      socket.on('message', (data) => {
        const receivedAt = hrNow();
        try {
          for (const frame of decode(data, socket)) handler(client, frame, receivedAt);
        } catch {
          // not JSON: not a frame of the contract; ignore
        }
      });
      clients.push(client);
    } catch (error) {
      failed++;
      firstError ??= (error as Error).message;
    }
  });
  return {
    clients,
    failed,
    firstError,
    onFrame(next) {
      handler = next;
    },
    async close() {
      await Promise.all(clients.map((client) => closeSocket(client.socket)));
    },
  };
}

/** How long a client waits for the gateway's `ready` frame before treating the connection as live. */
const READY_TIMEOUT_MS = 5000;

/**
 * Opens a socket and resolves once the gateway said `ready` (its subscriptions are live).
 * `localAddress` picks the client's source address (127.0.0.x): each source address has its own
 * ~28,000 ephemeral ports towards one server port, so 100,000 sockets need several.
 */
export function open(url: string, options: { localAddress?: string; requireReady?: boolean } = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, {
      handshakeTimeout: 10_000,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    // A refused upgrade arrives here as "Unexpected server response: <status>".
    socket.once('error', reject);
    socket.once('open', () => {
      socket.off('error', reject);
      socket.on('error', () => {}); // later errors surface as a close
      const live = () => {
        clearTimeout(timer);
        socket.off('message', onFrame);
        resolve(socket);
      };
      const onFrame = (data: WebSocket.RawData) => {
        if (data.toString().includes('"ready"')) live();
      };
      // `requireReady`: no `ready` within the timeout, or a close before it, is a failed connect
      // (the gateway closes 1011 when it cannot set the connection up, and clients reconnect).
      const timer = setTimeout(() => {
        if (!options.requireReady) return live();
        socket.off('message', onFrame);
        socket.terminate();
        reject(new Error(`no ready within ${READY_TIMEOUT_MS} ms`));
      }, READY_TIMEOUT_MS);
      socket.on('message', onFrame);
      if (options.requireReady) {
        socket.once('close', (code) => {
          clearTimeout(timer);
          reject(new Error(`closed ${code} before ready`));
        });
      }
    });
  });
}

function closeSocket(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.terminate();
      resolve();
    }, 5000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.close(1000, 'bench done');
  });
}
