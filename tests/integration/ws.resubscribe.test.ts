import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser } from '../support/api.js';
import { type RedisChild, startRedisChild } from '../support/redis-server.js';
import { startServer, type TestServer } from '../support/server.js';
import { connectWs, eventually, type TestSocket } from '../support/ws-client.js';

/** A node on a private redis-server that the test kills and restarts (empty) under it. */
let redis: RedisChild;
let node: TestServer;
let api: ApiClient;
let probe: Redis;
const sockets: TestSocket[] = [];

const userChannel = (id: string) => `sb:v1:ch:user:{${id}}`;
const presenceChannel = (id: string) => `sb:v1:ch:presence:{${id}}`;

beforeAll(async () => {
  redis = await startRedisChild();
  node = await startServer({ NODE_ID: 'resubscribe', REDIS_URL: redis.url, PRESENCE_VISIBILITY: 'everyone' });
  api = apiClient(node.url);
  probe = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  probe.on('error', () => {});
});

afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.close()));
  probe?.disconnect();
  await node?.close();
  await redis?.close();
});

async function subscribers(channel: string): Promise<number> {
  const [, count] = (await probe.pubsub('NUMSUB', channel)) as [string, number];
  return Number(count);
}

/** The node's open WebSocket connections (the gauge drops in the same step that releases a closing one's channels). */
async function openConnections(): Promise<number> {
  const text = await (await fetch(`${node.metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((entry) => entry.startsWith('switchboard_ws_connections '));
  return Number(line?.split(' ')[1]);
}

describe('subscriptions across a Redis outage', () => {
  it('does not subscribe again, after Redis returns, a channel whose last local user left during the outage', async () => {
    const [stays, leaves, watched] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    const staysSocket = await connectWs(node.url, stays.token);
    const leavesSocket = await connectWs(node.url, leaves.token);
    sockets.push(staysSocket, leavesSocket);
    // The leaving user also watches someone: that presence channel must go with them.
    leavesSocket.send({ type: 'presence.subscribe', data: { userIds: [watched.id] } });
    await leavesSocket.waitFor('presence', (data) => data.userId === watched.id);
    expect(await subscribers(userChannel(leaves.id))).toBe(1);
    expect(await subscribers(presenceChannel(watched.id))).toBe(1);

    await redis.stop();
    // The user leaves while Redis is away: the node drops their channels then.
    await leavesSocket.close();
    await eventually(async () => ((await openConnections()) === 1 ? true : undefined));
    await redis.start();

    // The user who stayed is listened to again: the node's subscriber reconnected and resubscribed.
    await eventually(async () => ((await subscribers(userChannel(stays.id)).catch(() => 0)) === 1 ? true : undefined));
    const channels = (await probe.pubsub('CHANNELS', 'sb:v1:ch:*')) as string[];
    expect(channels.sort()).toEqual([userChannel(stays.id)]);
    expect(await subscribers(userChannel(leaves.id))).toBe(0);
    expect(await subscribers(presenceChannel(watched.id))).toBe(0);
    expect(staysSocket.ws.readyState).toBe(staysSocket.ws.OPEN);
  });
});
