import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, registerUser } from '../support/api.js';
import { freePort, type ServerProcess, startServerProcess } from '../support/server.js';
import { connectWs, type TestSocket } from '../support/ws-client.js';

/**
 * docker/nginx/nginx.conf, the compose stack's load balancer, run for real in front of two real
 * nodes. Docker is not needed: only the upstream addresses, the listen port and the pid file
 * are rewritten for loopback. Runs where an nginx binary is installed (`apt-get install nginx`).
 */
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => {
  try {
    execFileSync(path, ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});

const wsConnections = async (node: ServerProcess) => {
  const text = await (await fetch(`${node.metricsUrl}/metrics`)).text();
  return Number(/^switchboard_ws_connections (\d+)$/m.exec(text)?.[1]);
};

/** Both nodes' open-connection gauges, once they equal `expected` or after 10 s (closes land shortly after the client's). */
async function gauges(nodes: ServerProcess[], expected: number[]) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const values = await Promise.all(nodes.map(wsConnections));
    if (values.every((value, i) => value === expected[i]) || Date.now() > deadline) return values;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.runIf(NGINX)('the nginx load balancer in front of two nodes', () => {
  let nodeA: ServerProcess;
  let nodeB: ServerProcess;
  let nginx: ChildProcess | undefined;
  let dir: string;
  let lb: string;
  const accessLog = () => readFileSync(join(dir, 'nginx.log'), 'utf8');

  beforeAll(async () => {
    [nodeA, nodeB] = await Promise.all([
      startServerProcess({ NODE_ID: 'lb-a', LOG_LEVEL: 'info' }),
      startServerProcess({ NODE_ID: 'lb-b', LOG_LEVEL: 'info' }),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'switchboard-nginx-'));
    const port = await freePort();
    const config = readFileSync(new URL('../../docker/nginx/nginx.conf', import.meta.url), 'utf8')
      .replace('server app1:3000', `server 127.0.0.1:${nodeA.port}`)
      .replace('server app2:3000', `server 127.0.0.1:${nodeB.port}`)
      .replace(/listen 3000;/, `listen 127.0.0.1:${port};`)
      .replace(/pid \S+;/, `pid ${join(dir, 'nginx.pid')};`);
    writeFileSync(join(dir, 'nginx.conf'), config);
    // nginx opens /dev/stdout and /dev/stderr by path: give it a file (a socket cannot be reopened).
    const log = openSync(join(dir, 'nginx.log'), 'w');
    nginx = spawn(NGINX as string, ['-c', join(dir, 'nginx.conf'), '-e', '/dev/stderr', '-g', 'daemon off;'], {
      stdio: ['ignore', log, log],
    });
    lb = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 15_000;
    for (;;) {
      const ok = await fetch(`${lb}/healthz`).then(
        (response) => response.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline || nginx.exitCode !== null) throw new Error(`nginx did not start:\n${accessLog()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      const running = nginx;
      const gone = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGTERM');
      await gone;
    }
    await Promise.all([nodeA?.stop(), nodeB?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('spreads WebSocket connections over both nodes and delivers a message to the sockets on each', async () => {
    const api = apiClient(lb);
    const alice = await registerUser(api, 'lb');
    const bob = await registerUser(api, 'lb');
    const sockets: TestSocket[] = [];
    try {
      expect(await gauges([nodeA, nodeB], [0, 0])).toEqual([0, 0]);
      for (let i = 0; i < 4; i++) sockets.push(await connectWs(lb, bob.token));
      // least_conn: four connections land two and two.
      expect(await gauges([nodeA, nodeB], [2, 2])).toEqual([2, 2]);
      const sent = await api.post(
        '/api/v1/messages',
        { receiverId: bob.id, content: 'through the balancer' },
        alice.token,
      );
      expect(sent.status).toBe(201);
      await Promise.all(
        sockets.map((socket) => socket.waitFor('message.created', (data) => data.message.id === sent.body.message.id)),
      );
    } finally {
      await Promise.all(sockets.map((socket) => socket.close()));
    }
  });

  it("passes the client's request id to the node, and logs neither tokens nor query strings", async () => {
    const api = apiClient(lb);
    const carol = await registerUser(api, 'lb');
    const traceId = `lb-trace-${Date.now()}`;
    const me = await api.request('GET', '/api/v1/users/me', {
      token: carol.token,
      headers: { 'x-request-id': traceId },
    });
    expect(me.status).toBe(200);
    expect(me.headers.get('x-request-id')).toBe(traceId);
    // The node's log line reaches this process through a pipe: give it a moment.
    const deadline = Date.now() + 10_000;
    while (!(nodeA.output() + nodeB.output()).includes(`"requestId":"${traceId}"`) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(nodeA.output() + nodeB.output()).toContain(`"requestId":"${traceId}"`);
    const socket = await connectWs(lb, carol.token, { via: 'query' });
    await socket.close();
    const log = accessLog();
    expect(log).toContain(`"requestId":"${traceId}"`);
    expect(log).toContain('"uri":"/ws"');
    expect(log).not.toContain(carol.token);
    expect(log).not.toContain('token=');
  });

  it('keeps /metrics off the public port (each node serves it on its own loopback listener)', async () => {
    expect((await fetch(`${lb}/metrics`)).status).toBe(404);
    expect((await fetch(`${nodeA.url}/metrics`)).status).toBe(404);
    expect((await fetch(`${nodeA.metricsUrl}/metrics`)).status).toBe(200);
  });

  it('moves clients to the other node when one shuts down: 1001 to its sockets, then reconnects and sends succeed', async () => {
    const api = apiClient(lb);
    const dave = await registerUser(api, 'lb');
    const erin = await registerUser(api, 'lb');
    const sockets: TestSocket[] = [];
    expect(await gauges([nodeA, nodeB], [0, 0])).toEqual([0, 0]);
    for (let i = 0; i < 2; i++) sockets.push(await connectWs(lb, erin.token));
    expect(await gauges([nodeA, nodeB], [1, 1])).toEqual([1, 1]);

    expect(await nodeA.stop('SIGTERM')).toBe(0);
    const codes = await Promise.race([
      Promise.any(sockets.map((socket) => socket.closed.then(({ code }) => code))),
      new Promise((resolve) => setTimeout(() => resolve('no socket closed'), 10_000)),
    ]);
    expect(codes).toBe(1001);

    const again = await connectWs(lb, erin.token);
    try {
      const sent = await api.post('/api/v1/messages', { receiverId: erin.id, content: 'after failover' }, dave.token);
      expect(sent.status).toBe(201);
      await again.waitFor('message.created', (data) => data.message.id === sent.body.message.id);
      // The survivor holds the socket it already had plus the reconnected one.
      expect(await gauges([nodeB], [2])).toEqual([2]);
    } finally {
      await Promise.all([again, ...sockets].map((socket) => socket.close()));
    }
  });

  it('answers in the API error format (503 UNAVAILABLE, Retry-After) when no node can take the request', async () => {
    await Promise.all([nodeA.stop('SIGTERM'), nodeB.stop('SIGTERM')]);
    const response = await fetch(`${lb}/api/v1/users/me`, { headers: { 'x-request-id': 'lb-all-down' } });
    expect(response.status).toBe(503);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.headers.get('retry-after')).toBe('2');
    expect(await response.json()).toEqual({
      type: 'https://switchboard.dev/problems/unavailable',
      title: 'Service unavailable',
      status: 503,
      detail: 'No API node can take the request right now; retry shortly',
      code: 'UNAVAILABLE',
      requestId: 'lb-all-down',
    });
    // An id that is not sane is replaced, so it cannot write into the body.
    const forged = await fetch(`${lb}/api/v1/users/me`, { headers: { 'x-request-id': 'x","code":"OK' } });
    const body = (await forged.json()) as { code: string; requestId: string };
    expect(body.code).toBe('UNAVAILABLE');
    expect(body.requestId).toMatch(/^[0-9a-f]{32}$/);
  });
});
