import { connectEach, open, wsUrl } from './ws-clients.js';

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
  open: number;
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
    const set = await connectEach(
      users,
      message.concurrency,
      (user, index) =>
        open(wsUrl(message.url, user.token), {
          localAddress: message.localAddresses[index % message.localAddresses.length] as string,
        }),
      () => [], // idle: no frame is looked at
    );
    close = () => set.close();
    const report: ConnectedReport = {
      type: 'connected',
      open: set.clients.length,
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
