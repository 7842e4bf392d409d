import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, registerUser } from '../support/api.js';
import { type RedisChild, startRedisChild } from '../support/redis-server.js';
import { startServer, type TestServer } from '../support/server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

async function poll<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('readiness', () => {
  let redis: RedisChild;
  let cassandraProxy: TcpProxy;
  let server: TestServer;

  beforeAll(async () => {
    redis = await startRedisChild();
    cassandraProxy = await startTcpProxy('127.0.0.1', 9042);
    server = await startServer({
      REDIS_URL: redis.url,
      CASSANDRA_CONTACT_POINTS: `127.0.0.1:${cassandraProxy.port}`,
      CASSANDRA_REQUEST_TIMEOUT_MS: '2000',
      // A lease of L/2 = 1 s, so a slow link lets it lapse quickly (the last test).
      SYNC_NODE_TIMEOUT_MS: '2000',
      SYNC_REPORT_INTERVAL_MS: '100',
    });
  });

  afterAll(async () => {
    await server?.close();
    await cassandraProxy?.close();
    await redis?.close();
  });

  const readyz = async () => {
    const response = await fetch(`${server.url}/readyz`);
    return {
      status: response.status,
      body: (await response.json()) as { status: string; dependencies: Record<string, string> },
    };
  };

  it('answers /healthz while the process is alive', async () => {
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('reports ready with both dependencies up', async () => {
    expect(await readyz()).toEqual({
      status: 200,
      body: { status: 'ready', dependencies: { cassandra: 'up', redis: 'up', sync: 'up' } },
    });
  });

  it('reports Redis down but stays ready (200, degraded) while Redis is stopped, and up after it returns', async () => {
    await redis.stop();
    const degraded = await poll(readyz, (r) => r.body.dependencies.redis === 'down');
    expect(degraded).toEqual({
      status: 200,
      body: { status: 'degraded', dependencies: { cassandra: 'up', redis: 'down', sync: 'up' } },
    });
    // The node still serves from Cassandra while the cache is away.
    const api = apiClient(server.url);
    const user = await registerUser(api);
    expect((await api.get('/api/v1/users/me', user.token)).status).toBe(200);

    await redis.start();
    const recovered = await poll(readyz, (r) => r.body.dependencies.redis === 'up');
    expect(recovered).toEqual({
      status: 200,
      body: { status: 'ready', dependencies: { cassandra: 'up', redis: 'up', sync: 'up' } },
    });
  });

  it('answers 503 while Cassandra is unreachable, and 200 again once it is back', async () => {
    cassandraProxy.cut();
    const down = await poll(readyz, (r) => r.status === 503);
    expect(down.status).toBe(503);
    // The lease lapses too (no position report gets through), within L/2.
    const both = await poll(readyz, (r) => r.body.dependencies.sync === 'down');
    expect(both.body).toEqual({
      status: 'unavailable',
      dependencies: { cassandra: 'down', redis: 'up', sync: 'down' },
    });

    cassandraProxy.restore();
    const back = await poll(readyz, (r) => r.status === 200, 60_000);
    expect(back.status).toBe(200);
    expect(back.body.dependencies).toEqual({ cassandra: 'up', redis: 'up', sync: 'up' });
  });

  it('answers 503 while position reports outlast the sync lease, though Cassandra still answers', async () => {
    // Every request towards Cassandra 1.5 s late: the health query answers (within the 2 s request
    // timeout), but each position report starts more than L/2 (1 s here) before it lands, so the
    // node holds no lease and would answer every send 503; the balancer must not send it traffic.
    cassandraProxy.delay(1500);
    const slow = await poll(readyz, (r) => r.body.dependencies.sync === 'down');
    expect(slow).toEqual({
      status: 503,
      body: { status: 'unavailable', dependencies: { cassandra: 'up', redis: 'up', sync: 'down' } },
    });
    cassandraProxy.delay(0);
    const back = await poll(readyz, (r) => r.status === 200, 30_000);
    expect(back.body).toEqual({ status: 'ready', dependencies: { cassandra: 'up', redis: 'up', sync: 'up' } });
  });
});
