import { spawn } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { testEnv } from '../support/env.js';
import { freePort } from '../support/server.js';

const REPO = new URL('../../', import.meta.url).pathname;

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts `src/main.ts` with exactly `env` (nothing inherited may repair or break the config). */
function spawnMain(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  // Bounded: a process that never exits is killed after 60 s and the test fails on its code.
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exited = new Promise<Finished>((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    }),
  );
  return { child, stdout: () => stdout, exited };
}

const runToExit = (env: Record<string, string>) => spawnMain(env).exited;

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Listens on `port` and pipes every connection to the real service on `targetPort`. */
async function forward(port: number, targetPort: number): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {}).on('close', () => sockets.delete(socket));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const lines = (text: string) => text.split('\n').filter((line) => line.trim().length > 0);

describe('start-up', () => {
  let forwarder: { close(): Promise<void> } | undefined;
  let blocker: Server | undefined;

  afterEach(async () => {
    await forwarder?.close();
    const taken = blocker;
    if (taken) await new Promise<void>((resolve) => taken.close(() => resolve()));
    forwarder = undefined;
    blocker = undefined;
  });

  it('exits non-zero with one line naming JWT_SECRET when the secret is too short, without echoing it', async () => {
    const result = await runToExit(testEnv({ JWT_SECRET: 'tiny-secret-value' }));
    expect(result.code).not.toBe(0);
    expect(result.code).not.toBeNull();
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/^switchboard: invalid configuration: JWT_SECRET: must be at least 32 characters\n$/);
    expect(result.stderr + result.stdout).not.toContain('tiny-secret-value');
  });

  it('names every bad variable in the one line when several are wrong', async () => {
    const result = await runToExit(testEnv({ PORT: 'eighty', CASSANDRA_CONSISTENCY: 'SOMETIMES', JWT_SECRET: '' }));
    expect(result.code).not.toBe(0);
    expect(lines(result.stderr)).toHaveLength(1);
    for (const name of ['PORT', 'CASSANDRA_CONSISTENCY', 'JWT_SECRET']) expect(result.stderr).toContain(`${name}:`);
  });

  it('gives up with exit 1 and one line naming Cassandra after the configured retries when it never answers', async () => {
    const closed = await freePort();
    const result = await runToExit(
      testEnv({
        LOG_LEVEL: 'info',
        CASSANDRA_CONTACT_POINTS: `127.0.0.1:${closed}`,
        STARTUP_RETRIES: '2',
        STARTUP_RETRY_DELAY_MS: '100',
      }),
    );
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/^switchboard: failed to start: cassandra did not answer after 3 attempts: /);
    // Each retry was announced as a structured log line before giving up.
    const waits = lines(result.stdout)
      .map((line) => JSON.parse(line) as { msg: string; attempt?: number })
      .filter((entry) => entry.msg === 'waiting for cassandra');
    expect(waits.map((entry) => entry.attempt)).toEqual([1, 2]);
  });

  it('waits for Cassandra while its port is closed and serves once it opens', async () => {
    // Cassandra "starts" later: its port refuses connections until a forwarder opens it.
    const cqlPort = await freePort();
    const port = await freePort();
    const main = spawnMain(
      testEnv({
        LOG_LEVEL: 'info',
        PORT: String(port),
        CASSANDRA_CONTACT_POINTS: `127.0.0.1:${cqlPort}`,
        STARTUP_RETRIES: '100',
        STARTUP_RETRY_DELAY_MS: '200',
      }),
    );
    try {
      await until(() => main.stdout().includes('"waiting for cassandra"'), 'the first retry');
      forwarder = await forward(cqlPort, 9042);
      await until(
        () =>
          fetch(`http://127.0.0.1:${port}/readyz`).then(
            (response) => response.status === 200,
            () => false,
          ),
        'readiness after Cassandra answered',
      );
      main.child.kill('SIGTERM');
      expect((await main.exited).code).toBe(0);
    } finally {
      if (main.child.exitCode === null) main.child.kill('SIGKILL');
    }
  });

  it('exits 1 with one line when the port is already taken', async () => {
    const port = await freePort();
    blocker = createServer();
    const taken = blocker;
    await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', () => resolve()));
    const result = await runToExit(testEnv({ PORT: String(port), LOG_LEVEL: 'silent' }));
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toContain(`switchboard: cannot listen on 127.0.0.1:${port}: `);
    expect(result.stderr).toContain('EADDRINUSE');
  });
});
