import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type ApiClient, apiClient, expectProblem, registerUser } from '../support/api.js';
import { rawHttp } from '../support/raw-http.js';
import { type ServerProcess, startServerProcess } from '../support/server.js';
import { connectWs, eventually, refusedUpgrade, type TestSocket, wsUrl } from '../support/ws-client.js';

/**
 * Hostile WebSocket clients. Each case is a defect once measured from outside (a frame that
 * killed the node, no connection cap, unlimited pings, a 500 on a malformed upgrade target).
 * The node under test is its own OS process, so a crash shows as a dead process, not a failed
 * assertion inside a still-running test worker.
 */
let node: ServerProcess;
let api: ApiClient;
const sockets: TestSocket[] = [];

const FRAME_TYPES = ['ack', 'read', 'typing', 'presence.subscribe', 'presence.unsubscribe', 'ping'];
const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

beforeAll(async () => {
  node = await startServerProcess({
    LOG_LEVEL: 'info',
    WS_MAX_CONNECTIONS_PER_USER: '3',
    WS_FRAMES_PER_SECOND: '5',
    WS_FRAME_BURST: '10',
    WS_ABUSE_CLOSE_AFTER: '20',
    // The WebSocket limits under test; the REST ones high enough that signing up test users never
    // meets them, and counted under a prefix of this run's own.
    RATE_LIMIT_ENABLED: 'true',
    REGISTER_IP_LIMIT: '100000',
    REST_IP_LIMIT: '100000',
    REDIS_KEY_PREFIX: `sbwssec${process.pid}${Date.now()}`,
    WS_ALLOWED_ORIGINS: 'https://chat.example.com',
  });
  api = apiClient(node.url);
});

afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.close()));
  await node?.stop('SIGTERM');
});

async function connected() {
  const user = await registerUser(api, 'ws_sec');
  const socket = await connectWs(node.url, user.token);
  sockets.push(socket);
  return { user, socket };
}

/** The node still serves: this socket gets a pong, and a fresh user can sign up over REST. */
async function expectNodeServing(socket?: TestSocket) {
  expect(node.child.exitCode).toBeNull();
  if (socket) {
    const nonce = Math.random().toString(36).slice(2);
    socket.send({ type: 'ping', data: { nonce } });
    expect((await socket.waitFor('pong', (data) => data?.nonce === nonce)).data).toEqual({ nonce });
  }
  await registerUser(api, 'ws_alive');
}

describe('frames that once crashed the node', () => {
  it('survives a ping nested 5,000 deep: that client gets an error frame and the node keeps serving everyone', async () => {
    const { socket: attacker } = await connected();
    const { socket: bystander } = await connected();
    const frame = `{"type":"ping","data":${deep(5000)}}`;
    expect(Buffer.byteLength(frame)).toBeLessThan(64 * 1024);
    attacker.send(frame);
    const error = await attacker.waitFor('error');
    expect(error.data.code).toBe('VALIDATION_FAILED');
    expect(error.data.detail).toMatch(/nests deeper than 8 levels/);
    await expectNodeServing(attacker);
    await expectNodeServing(bystander);
  });

  it('refuses deep nesting in every frame type with an error frame, never a crash', async () => {
    const { socket } = await connected();
    for (const type of FRAME_TYPES) {
      socket.send(`{"type":"${type}","id":"deep-${type}","data":{"conversationId":${deep(3000)}}}`);
    }
    await eventually(async () => (socket.ofType('error').length >= FRAME_TYPES.length ? true : undefined));
    expect(socket.ofType('error').map((frame) => frame.data.code)).toEqual(FRAME_TYPES.map(() => 'VALIDATION_FAILED'));
    await expectNodeServing(socket);
  });

  it('echoes a ping only when its data is small (at most 1 KiB of JSON)', async () => {
    const { socket } = await connected();
    socket.send({ type: 'ping', id: 'big', data: { blob: 'x'.repeat(2000) } });
    const error = await socket.waitFor('error', (data) => data.id === 'big');
    expect(error.data.code).toBe('VALIDATION_FAILED');
    expect(socket.ofType('pong')).toHaveLength(0);
    await expectNodeServing(socket);
  });

  it('refuses a lone UTF-16 surrogate escaped in a frame', async () => {
    const { socket } = await connected();
    socket.send('{"type":"ping","id":"surrogate","data":{"text":"\\ud800"}}');
    const error = await socket.waitFor('error');
    expect(error.data.code).toBe('VALIDATION_FAILED');
    expect(error.data.detail).toMatch(/lone UTF-16 surrogate/);
    await expectNodeServing(socket);
  });

  it('closes only that socket with 1007 when a text frame is not valid UTF-8', async () => {
    const { socket } = await connected();
    const { socket: bystander } = await connected();
    socket.ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
    expect((await socket.closed).code).toBe(1007);
    await expectNodeServing(bystander);
  });
});

describe('limits per user and per connection', () => {
  it('caps WebSocket connections per user: the oldest stay open, the next is refused with 429', async () => {
    const user = await registerUser(api, 'ws_cap');
    const open: TestSocket[] = [];
    for (let i = 0; i < 3; i++) open.push(await connectWs(node.url, user.token));
    sockets.push(...open);
    const refused = await refusedUpgrade(`${wsUrl(node.url)}?token=${user.token}`);
    expect(refused.status).toBe(429);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(refused.body).code).toBe('RATE_LIMITED');
    expect(refused.headers['retry-after']).toBeDefined();
    for (const socket of open) await expectNodeServing(socket);
    // Closing one frees its slot.
    await open[0]?.close();
    await eventually(async () => {
      try {
        sockets.push(await connectWs(node.url, user.token));
        return true;
      } catch {
        return undefined;
      }
    });
  });

  it('refuses a burst of simultaneous upgrades past the cap (the count is taken before any handshake)', async () => {
    const user = await registerUser(api, 'ws_burst');
    const attempts = await Promise.allSettled(Array.from({ length: 12 }, () => connectWs(node.url, user.token)));
    const accepted = attempts.filter((a): a is PromiseFulfilledResult<TestSocket> => a.status === 'fulfilled');
    sockets.push(...accepted.map((a) => a.value));
    expect(accepted).toHaveLength(3);
  });

  it('limits frames per connection, pings included: RATE_LIMITED error frames, then close 4029 on persistent abuse', async () => {
    const { socket } = await connected();
    for (let i = 0; i < 200; i++) socket.send({ type: 'ping', data: { i } });
    const { code } = await socket.closed;
    expect(code).toBe(4029);
    const pongs = socket.ofType('pong').length;
    expect(pongs).toBeGreaterThanOrEqual(10);
    expect(pongs).toBeLessThan(20);
    const limited = socket.ofType('error').filter((frame) => frame.data.code === 'RATE_LIMITED');
    expect(limited.length).toBeGreaterThanOrEqual(20);
    expect(limited[0]?.data.retryAfterMs).toBeGreaterThan(0);
    await expectNodeServing();
  });
});

describe('the upgrade request', () => {
  it('answers a malformed request target (GET http://[/ws) with 400 problem+json and logs no stack trace', async () => {
    const answer = await rawHttp(node.url, [
      'GET http://[/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    ]);
    expect(answer.status).toBe(400);
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    expect(node.output()).not.toContain('websocket upgrade failed');
    expect(node.output()).not.toMatch(/"stack"/);
    await expectNodeServing();
  });

  it('refuses a browser Origin that WS_ALLOWED_ORIGINS does not list (403), and accepts a listed one', async () => {
    const user = await registerUser(api, 'ws_origin');
    const url = `${wsUrl(node.url)}?token=${user.token}`;
    const refused = await refusedUpgrade(url, { origin: 'https://evil.example' });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body).code).toBe('FORBIDDEN');
    const ws = new WebSocket(url, { headers: { origin: 'https://chat.example.com' } });
    const ready = await new Promise<string>((resolve, reject) => {
      ws.once('message', (data) => resolve(JSON.parse(data.toString()).type));
      ws.once('error', reject);
    });
    expect(ready).toBe('ready');
    ws.close();
  });

  it('answers an unknown path with 404 problem+json', async () => {
    const user = await registerUser(api, 'ws_path');
    const refused = await refusedUpgrade(`${wsUrl(node.url, '/nope')}?token=${user.token}`);
    expectProblem(
      {
        status: refused.status,
        headers: new Headers(refused.headers as Record<string, string>),
        body: JSON.parse(refused.body),
      },
      404,
      'NOT_FOUND',
    );
  });
});

describe('with RATE_LIMIT_ENABLED=false', () => {
  let open: ServerProcess;
  beforeAll(async () => {
    open = await startServerProcess({
      RATE_LIMIT_ENABLED: 'false',
      WS_MAX_CONNECTIONS_PER_USER: '1',
      WS_FRAMES_PER_SECOND: '1',
      WS_FRAME_BURST: '1',
      WS_ABUSE_CLOSE_AFTER: '1',
    });
  });
  afterAll(async () => {
    await open?.stop('SIGTERM');
  });

  it('lifts the connection cap and the frame rate (for benchmarks and load tests from one address)', async () => {
    const user = await registerUser(apiClient(open.url), 'ws_off');
    const both = [await connectWs(open.url, user.token), await connectWs(open.url, user.token)];
    sockets.push(...both);
    const [socket] = both as [TestSocket, TestSocket];
    for (let i = 0; i < 30; i++) socket.send({ type: 'ping', data: { i } });
    await eventually(async () => (socket.ofType('pong').length === 30 ? true : undefined));
    expect(socket.ofType('error')).toEqual([]);
  });
});
