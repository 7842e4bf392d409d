import { type ChildProcess, spawn } from 'node:child_process';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { loadConfig } from '../../src/config.js';
import { type Container, createContainer } from '../../src/container.js';
import { httpServerOptions } from '../../src/http/node-server.js';
import { testEnv } from './env.js';

const REPO = new URL('../../', import.meta.url).pathname;

export interface TestServer {
  url: string;
  /** The metrics listener (its own port, as in production). */
  metricsUrl: string;
  container: Container;
  close(): Promise<void>;
}

/** The real application in this process, on a free loopback port, against real services. */
export async function startServer(overrides: Record<string, string> = {}): Promise<TestServer> {
  const config = loadConfig(testEnv(overrides));
  const container = await createContainer(config);
  const server = serve({
    fetch: container.app.fetch,
    hostname: '127.0.0.1',
    port: 0,
    serverOptions: httpServerOptions(config.http),
  }) as Server;
  const metricsServer = serve({ fetch: container.metricsApp.fetch, hostname: '127.0.0.1', port: 0 }) as Server;
  await Promise.all(
    [server, metricsServer].map((s) => new Promise<void>((resolve) => s.once('listening', () => resolve()))),
  );
  // The WebSocket gateway too, as in main.ts.
  container.attach(server);
  const { port } = server.address() as AddressInfo;
  const metricsPort = (metricsServer.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    metricsUrl: `http://127.0.0.1:${metricsPort}`,
    container,
    async close() {
      metricsServer.close();
      metricsServer.closeAllConnections();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await container.drain();
      server.closeAllConnections();
      await closed;
      await container.close();
    },
  };
}

export interface ServerProcess {
  url: string;
  /** The metrics listener (METRICS_PORT, loopback). */
  metricsUrl: string;
  port: number;
  child: ChildProcess;
  output(): string;
  /** Sends a signal and resolves with the exit code once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The real server as its own OS process (`src/main.ts`), for multi-node and signal tests. */
export async function startServerProcess(
  overrides: Record<string, string> = {},
  options: {
    nodeArgs?: string[];
    /** `build`: run the compiled `dist/src/main.js` (after `npm run build`), as production does. */
    entry?: 'source' | 'build';
  } = {},
): Promise<ServerProcess> {
  const port = overrides.PORT ? Number(overrides.PORT) : await freePort();
  const metricsPort = overrides.METRICS_PORT ? Number(overrides.METRICS_PORT) : await freePort();
  const entry = options.entry === 'build' ? ['dist/src/main.js'] : ['--import', 'tsx', 'src/main.ts'];
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...entry], {
    cwd: REPO,
    env: { ...process.env, ...testEnv({ ...overrides, PORT: String(port), METRICS_PORT: String(metricsPort) }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server process exited early:\n${output}`);
    try {
      const response = await fetch(`${url}/readyz`);
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server process not ready in 60s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    url,
    metricsUrl: `http://127.0.0.1:${metricsPort}`,
    port,
    child,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A metric's value on a node's metrics listener, summed over its label sets, or only those whose
 * labels include `labelValue` (0 when absent).
 */
export async function metricTotal(metricsUrl: string, name: string, labelValue?: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  return [...text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)$`, 'gm'))]
    .filter((match) => labelValue === undefined || (match[1] ?? '').includes(`"${labelValue}"`))
    .map((match) => Number(match[2]))
    .reduce((sum, value) => sum + value, 0);
}
