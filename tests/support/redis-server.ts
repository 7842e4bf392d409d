import { type ChildProcess, spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './server.js';

/**
 * A private, throwaway redis-server on a free loopback port, for tests that stop, restart, pause
 * or fill Redis: the shared instance other tests use is never touched.
 */
export interface RedisChild {
  port: number;
  url: string;
  /** A plain client to inspect or pause the server (not through any proxy). */
  admin: Redis;
  /** Kills the server (its data is gone: no persistence). */
  stop(): Promise<void>;
  /** Starts a fresh server on the same port. */
  start(): Promise<void>;
  running(): boolean;
  close(): Promise<void>;
}

/**
 * Starts `redis-server` as a child process on a free port, without persistence. `args` are extra
 * server options (e.g. `--maxmemory 12mb`), applied after the defaults.
 */
export async function startRedisChild(options: { args?: readonly string[] } = {}): Promise<RedisChild> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const admin = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  admin.on('error', () => {});

  async function start() {
    child = spawn(
      'redis-server',
      [
        ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
        ...['--enable-debug-command', 'local', '--maxmemory-policy', 'volatile-lru'],
        ...(options.args ?? []),
      ],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis({
        port,
        host: '127.0.0.1',
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      probe.on('error', () => {});
      try {
        await probe.connect();
        if ((await probe.ping()) === 'PONG') {
          probe.disconnect();
          break;
        }
      } catch {
        probe.disconnect();
      }
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (admin.status === 'wait' || admin.status === 'end') await admin.connect().catch(() => {});
  }

  async function stop() {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  }

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    admin,
    stop,
    start,
    running: () => child !== undefined && child.exitCode === null,
    async close() {
      admin.disconnect();
      await stop();
    },
  };
}
