import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser } from '../support/api.js';
import { type ServerProcess, startServerProcess } from '../support/server.js';
import { connectWs, eventually, type TestSocket } from '../support/ws-client.js';

let node: ServerProcess;
let api: ApiClient;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  // Presence mechanics between strangers; who may see whom is tested in security.presence.test.ts.
  node = await startServerProcess({
    WS_TYPING_MIN_INTERVAL_MS: '60000',
    WS_HEARTBEAT_MS: '1000',
    PRESENCE_VISIBILITY: 'everyone',
  });
  api = apiClient(node.url);
});

afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.close()));
  await node?.stop('SIGTERM');
});

async function connected() {
  const user = await registerUser(api);
  const socket = await connectWs(node.url, user.token);
  sockets.push(socket);
  return { user, socket };
}

/** Sends a ping after a bad frame: the pong proves the socket is still open and served. */
async function expectStillServed(socket: TestSocket, nonce: string) {
  socket.send({ type: 'ping', data: { nonce } });
  const pong = await socket.waitFor('pong', (data) => data?.nonce === nonce);
  expect(pong.data).toEqual({ nonce });
  expect(socket.ws.readyState).toBe(socket.ws.OPEN);
}

describe('inbound frames', () => {
  it('answers ping with pong', async () => {
    const { socket } = await connected();
    socket.send({ type: 'ping' });
    expect((await socket.waitFor('pong')).data).toEqual({});
  });

  it('answers malformed JSON with a MALFORMED_JSON error frame and keeps the socket open', async () => {
    const { socket } = await connected();
    socket.send('{"type": "ping", ');
    const error = await socket.waitFor('error');
    expect(error.data).toEqual({ code: 'MALFORMED_JSON', detail: expect.any(String) });
    await expectStillServed(socket, 'after-malformed');
  });

  it('answers an unknown frame type with VALIDATION_FAILED and keeps the socket open', async () => {
    const { socket } = await connected();
    socket.send({ type: 'message.send', id: 'f1', data: {} });
    const error = await socket.waitFor('error');
    expect(error.data).toMatchObject({
      code: 'VALIDATION_FAILED',
      id: 'f1',
      detail: expect.stringContaining('message.send'),
      issues: [{ path: 'type', message: expect.any(String) }],
    });
    await expectStillServed(socket, 'after-unknown');
  });

  it('answers invalid data with VALIDATION_FAILED naming the bad fields', async () => {
    const { socket } = await connected();
    socket.send({ type: 'ack', data: { conversationId: 'nope', messageId: 42 } });
    const error = await socket.waitFor('error');
    expect(error.data.code).toBe('VALIDATION_FAILED');
    expect(error.data.issues.map((issue: { path: string }) => issue.path).sort()).toEqual([
      'data.conversationId',
      'data.messageId',
    ]);
    await expectStillServed(socket, 'after-invalid');
  });

  it('answers a frame that is not an object, and a binary frame, with error frames', async () => {
    const { socket } = await connected();
    socket.send('[1,2,3]');
    expect((await socket.waitFor('error')).data.code).toBe('VALIDATION_FAILED');
    socket.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await socket.waitFor('error', (data) => data.code === 'UNSUPPORTED_MEDIA_TYPE')).data.detail).toEqual(
      expect.any(String),
    );
    await expectStillServed(socket, 'after-binary');
  });

  it('answers an ack for a message that does not exist with NOT_FOUND', async () => {
    const { user, socket } = await connected();
    const peer = await registerUser(api);
    const conversationId = user.id < peer.id ? `dm_${user.id}_${peer.id}` : `dm_${peer.id}_${user.id}`;
    socket.send({ type: 'read', data: { conversationId, messageId: '01JD3W6YQ7R5S3T2V1X0Z9Y8W7' } });
    expect((await socket.waitFor('error')).data.code).toBe('NOT_FOUND');
  });

  it('rate-limits typing per connection with RATE_LIMITED', async () => {
    const { user, socket } = await connected();
    const peer = await registerUser(api);
    const conversationId = user.id < peer.id ? `dm_${user.id}_${peer.id}` : `dm_${peer.id}_${user.id}`;
    socket.send({ type: 'typing', data: { conversationId } });
    socket.send({ type: 'typing', id: 'second', data: { conversationId } });
    const error = await socket.waitFor('error');
    expect(error.data).toMatchObject({ code: 'RATE_LIMITED', id: 'second' });
    expect(socket.ofType('error')).toHaveLength(1);
  });

  it('closes the connection with 1009 when a frame exceeds the payload limit', async () => {
    const { socket } = await connected();
    socket.send({ type: 'ping', data: { padding: 'x'.repeat(64 * 1024) } });
    const { code } = await socket.closed;
    expect(code).toBe(1009);
  });

  it('accepts a frame just under the payload limit', async () => {
    const { socket } = await connected();
    // JSON white space: a ping's echoed data is capped at 1 KiB, the frame itself is not.
    const frame = `{"type":"ping",${' '.repeat(60 * 1024)}"data":{"nonce":"big"}}`;
    socket.send(frame);
    expect((await socket.waitFor('pong')).data).toEqual({ nonce: 'big' });
  });
});

describe('heartbeat', () => {
  it('terminates a connection that stops answering pings, and its user goes offline', async () => {
    const { user, socket } = await connected();
    const watcher = await connected();
    watcher.socket.send({ type: 'presence.subscribe', data: { userIds: [user.id] } });
    await watcher.socket.waitFor('presence', (data) => data.userId === user.id && data.status === 'online');
    // Stop reading: pings go unanswered, as with a peer that vanished from the network.
    (socket.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const offline = await watcher.socket.waitFor(
      'presence',
      (data) => data.userId === user.id && data.status === 'offline',
    );
    expect(offline.data.lastSeenAt).toEqual(expect.any(String));
    await eventually(async () => {
      const response = await api.get(`/api/v1/presence?userIds=${user.id}`, watcher.user.token);
      return response.body.presence[0].status === 'offline' ? true : undefined;
    });
  });
});
