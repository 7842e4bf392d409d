import { setTimeout as sleep } from 'node:timers/promises';
import { connectEach, open, wsUrl } from './ws-clients.js';

/** Attempts per client before it counts as failed. */
const MAX_ATTEMPTS = 6;

/**
 * A child process of the idle scenario that holds one share of its WebSocket clients. One process
 * may hold no more sockets than `ulimit -n` allows (20,000 on the machine we measure on, and it
 * cannot be raised there), so 100,000 connections take several of these, as they take several API
 * nodes. Driven over the fork IPC channel (idle-clients.ts):
 *
 *   parent → { type: 'connect', url, tokens, localAddresses, concurrency }
 *   worker → { type: 'connected', open, failed, firstError, seconds, rssMb }
 *   parent → { type: 'close' }   worker → { type: 'closed' }, then exits
 */
export interface ConnectOrder {
  type: 'connect';
  url: string;
  tokens: string[];
  localAddresses: string[];
  concurrency: number;
}

export interface ConnectedReport {
  type: 'connected';
  /** Sockets open when the whole share had connected (a socket closed since is not counted). */
  open: number;
  /** Connects that failed and were tried again (a close before `ready`, a refused handshake). */
  retries: number;
  /** The failures by message (e.g. "closed 1011 before ready"). */
  retryReasons: Record<string, number>;
  /** Sockets that were ready and then closed before the share was complete, by close code. */
  closedAfterReady: Record<string, number>;
  failed: number;
  firstError: string | undefined;
  seconds: number;
  rssMb: number;
}

const send = (message: unknown) =>
  new Promise<void>((resolve) => {
    process.send?.(message, () => resolve());
  });

let close: (() => Promise<void>) | undefined;

process.on('message', async (message: ConnectOrder | { type: 'close' }) => {
  if (message.type === 'connect') {
    const started = performance.now();
    const users = message.tokens.map((token, index) => ({ id: String(index), token }));
    let retries = 0;
    const retryReasons: Record<string, number> = {};
    const closedAfterReady: Record<string, number> = {};
    // Like a client of the README: a connect that fails is tried again after a backoff (up to
    // MAX_ATTEMPTS times), and a connection counts only once the gateway said `ready`.
    const connectWithRetry = async (token: string, index: number) => {
      for (let attempt = 1; ; attempt++) {
        try {
          const socket = await open(wsUrl(message.url, token), {
            localAddress: message.localAddresses[index % message.localAddresses.length] as string,
            requireReady: true,
          });
          socket.once('close', (code, reason) => {
            const key = `${code} ${reason.toString()}`.trim();
            closedAfterReady[key] = (closedAfterReady[key] ?? 0) + 1;
          });
          return socket;
        } catch (error) {
          if (attempt >= MAX_ATTEMPTS) throw error;
          retries++;
          const reason = (error as Error).message.replace(/\d{4,}/g, 'N');
          retryReasons[reason] = (retryReasons[reason] ?? 0) + 1;
          await sleep(Math.min(10_000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2));
        }
      }
    };
    const set = await connectEach(
      users,
      message.concurrency,
      (user, index) => connectWithRetry(user.token, index),
      () => [], // idle: no frame is looked at
    );
    close = () => set.close();
    const report: ConnectedReport = {
      type: 'connected',
      open: set.clients.filter((client) => client.socket.readyState === client.socket.OPEN).length,
      retries,
      retryReasons,
      closedAfterReady: { ...closedAfterReady },
      failed: set.failed,
      firstError: set.firstError,
      seconds: (performance.now() - started) / 1000,
      rssMb: process.memoryUsage().rss / 1024 / 1024,
    };
    await send(report);
  } else if (message.type === 'close') {
    await close?.();
    await send({ type: 'closed' });
    process.exit(0);
  }
});

// The parent died or closed the channel: nothing holds these sockets open for anyone.
process.on('disconnect', () => process.exit(0));
