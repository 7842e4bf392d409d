import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser } from '../support/api.js';
import { type RedisChild, startRedisChild } from '../support/redis-server.js';
import { type ServerProcess, startServerProcess } from '../support/server.js';
import { connectWs, eventually, type TestSocket } from '../support/ws-client.js';

/**
 * Presence when Redis is slow rather than away: a command that times out on the node has
 * usually still run on Redis, late. A close must not stop half-way then (the connection's index
 * entry claimed, the user's set untouched): that left a phantom connection for the whole TTL
 * that no sweeper could claim, so the user read online for a minute after leaving and their
 * watchers were never told (the cause of the presence-order test's failures at a 100 ms command
 * timeout on a loaded cluster). On a private redis-server the test stalls (DEBUG SLEEP).
 */
const PRESENCE_TTL_SECONDS = 60;
let redis: RedisChild;
let node: ServerProcess;
let api: ApiClient;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  redis = await startRedisChild();
  node = await startServerProcess({
    NODE_ID: 'presence-timeouts',
    LOG_LEVEL: 'warn',
    REDIS_URL: redis.url,
    REDIS_COMMAND_TIMEOUT_MS: '100',
    PRESENCE_TTL_SECONDS: String(PRESENCE_TTL_SECONDS),
    PRESENCE_VISIBILITY: 'everyone',
  });
  api = apiClient(node.url);
});

afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.close()));
  await node?.stop('SIGTERM');
  await redis?.close();
});

describe('presence through Redis command timeouts', () => {
  it('announces a user offline when their last connection closes while Redis stalls past the command timeout', async () => {
    const [watcher, leaver] = await Promise.all([registerUser(api), registerUser(api)]);
    const watching = await connectWs(node.url, watcher.token);
    sockets.push(watching);
    const leaving = await connectWs(node.url, leaver.token);
    watching.send({ type: 'presence.subscribe', data: { userIds: [leaver.id] } });
    await watching.waitFor('presence', (data) => data.userId === leaver.id && data.status === 'online');

    // Redis busy for 500 ms: the close's commands (claim, then script) time out on the node at 100 ms each.
    const stall = redis.admin.call('DEBUG', 'SLEEP', '0.5');
    await new Promise((resolve) => setTimeout(resolve, 20));
    await leaving.close();
    await stall;

    // Long before the TTL could have lapsed the connection (and with no sweep that could claim it).
    await watching.waitFor('presence', (data) => data.userId === leaver.id && data.status === 'offline', 10_000);
    const presence = await eventually(async () => {
      const answer = await api.get(`/api/v1/presence?userIds=${leaver.id}`, watcher.token);
      return answer.status === 200 ? answer : undefined;
    });
    expect(presence.body.presence).toEqual([expect.objectContaining({ userId: leaver.id, status: 'offline' })]);
    expect(await redis.admin.zcard(`sb:v1:presence:conns:{${leaver.id}}`)).toBe(0);
    // The node did hit the timeout (otherwise this test proved nothing).
    expect(node.output()).toContain('presence removal failed');
  });
});
