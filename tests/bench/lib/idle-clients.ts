import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import type { ConnectedReport, ConnectOrder } from './idle-worker.js';

const WORKER = new URL('./idle-worker.ts', import.meta.url).pathname;

/** The source addresses the clients spread over: 127.0.0.2 … 127.0.0.(1 + count). */
export const sourceAddresses = (count: number) => Array.from({ length: count }, (_, i) => `127.0.0.${i + 2}`);

export interface IdleShare {
  url: string;
  tokens: string[];
}

export interface IdleFleet {
  reports: ConnectedReport[];
  open: number;
  failed: number;
  retries: number;
  retryReasons: Record<string, number>;
  closedAfterReady: Record<string, number>;
  firstError: string | undefined;
  close(): Promise<void>;
}

/**
 * One worker process per share (idle-worker.ts), each connecting its tokens to its node from the
 * given source addresses, all shares at once. Resolves when every worker has connected its share.
 */
export async function connectIdleFleet(
  shares: readonly IdleShare[],
  options: { localAddresses: string[]; concurrency: number },
): Promise<IdleFleet> {
  const workers: ChildProcess[] = shares.map(() =>
    fork(WORKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  const reports = await Promise.all(
    workers.map(async (worker, index) => {
      const share = shares[index] as IdleShare;
      const reply = once(worker, 'message') as Promise<[ConnectedReport]>;
      const order: ConnectOrder = {
        type: 'connect',
        url: share.url,
        tokens: share.tokens,
        localAddresses: options.localAddresses,
        concurrency: options.concurrency,
      };
      worker.send(order);
      const [report] = await Promise.race([
        reply,
        once(worker, 'exit').then(([code]) => {
          throw new Error(`idle worker ${index} exited with ${code} before connecting`);
        }),
      ]);
      return report;
    }),
  );
  return {
    reports,
    open: reports.reduce((sum, r) => sum + r.open, 0),
    failed: reports.reduce((sum, r) => sum + r.failed, 0),
    retries: reports.reduce((sum, r) => sum + r.retries, 0),
    retryReasons: addUp(reports.map((r) => r.retryReasons)),
    closedAfterReady: addUp(reports.map((r) => r.closedAfterReady)),
    firstError: reports.find((r) => r.firstError)?.firstError,
    async close() {
      await Promise.all(
        workers.map(async (worker) => {
          if (worker.exitCode !== null) return;
          const exited = once(worker, 'exit');
          worker.send({ type: 'close' });
          const timer = setTimeout(() => worker.kill('SIGKILL'), 60_000);
          await exited;
          clearTimeout(timer);
        }),
      );
    },
  };
}

function addUp(counts: Record<string, number>[]): Record<string, number> {
  const all: Record<string, number> = {};
  for (const one of counts) for (const [key, count] of Object.entries(one)) all[key] = (all[key] ?? 0) + count;
  return all;
}
