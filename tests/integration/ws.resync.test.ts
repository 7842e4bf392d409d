import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { type RedisChild, startRedisChild } from '../support/redis-server.js';
import { startServer, type TestServer } from '../support/server.js';
import { connectWs, eventually, type TestSocket, wsUrl } from '../support/ws-client.js';

/**
 * Gaps are told, never silent, and never invented: a node on a private redis-server that the
 * test restarts or pauses under it, and a node on the shared Redis for the quiet run.
 */
let redis: RedisChild;
let node: TestServer;
let api: ApiClient;
let probe: Redis;
const sockets: TestSocket[] = [];

const userChannel = (id: string) => `sb:v1:ch:user:{${id}}`;

beforeAll(async () => {
  redis = await startRedisChild();
  node = await startServer({ NODE_ID: 'resync', REDIS_URL: redis.url });
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

async function connect(baseUrl: string, user: TestUser) {
  const socket = await connectWs(baseUrl, user.token);
  sockets.push(socket);
  return socket;
}

async function metric(server: TestServer, name: string): Promise<number> {
  const text = await (await fetch(`${server.metricsUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

async function subscribers(channel: string): Promise<number> {
  const [, count] = (await probe.pubsub('NUMSUB', channel)) as [string, number];
  return Number(count);
}

const sendDirect = (from: TestUser, to: TestUser, content: string) =>
  api.post('/api/v1/messages', { receiverId: to.id, content }, from.token);

describe('resync after a gap', () => {
  it('sends resync to every connection after a Redis restart, once resubscribed, and live delivery works after it', async () => {
    const [alice, bob] = await Promise.all([registerUser(api, 'rs'), registerUser(api, 'rs')]);
    const aliceSocket = await connect(node.url, alice);
    const bobSocket = await connect(node.url, bob);
    expect(bobSocket.ofType('resync')).toEqual([]);

    await redis.stop();
    // Stored while Redis is away (201), never published: exactly what the resync is for.
    const during = await sendDirect(alice, bob, 'during the restart');
    expect(during.status).toBe(201);
    await redis.start();

    const told = await bobSocket.waitFor('resync');
    // Told only once its channel holds again: a catch-up now cannot miss what comes next.
    expect(await subscribers(userChannel(bob.id))).toBe(1);
    expect(told.data).toEqual({ reason: 'reconnect' });
    await aliceSocket.waitFor('resync');

    const after = await sendDirect(alice, bob, 'after the restart');
    expect(after.status).toBe(201);
    await bobSocket.waitFor('message.created', (data) => data.message.id === after.body.message.id);
    // One restart, one resync per connection.
    expect(bobSocket.ofType('resync')).toHaveLength(1);
  });

  it('does not send ready when the subscriptions cannot be made (Redis down at connect): it closes with 1011', async () => {
    const user = await registerUser(api, 'rs');
    await redis.stop();
    try {
      const ws = new WebSocket(`${wsUrl(node.url)}?token=${encodeURIComponent(user.token)}`);
      const frames: string[] = [];
      ws.on('message', (data) => frames.push(JSON.parse(data.toString()).type));
      ws.on('error', () => {});
      const closed = await new Promise<{ code: number; reason: string }>((resolve) =>
        ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
      );
      expect(closed).toEqual({ code: 1011, reason: 'setup failed; reconnect' });
      expect(frames).toEqual([]);
    } finally {
      await redis.start();
    }
    // Once Redis is back, the same client connects and is told `ready` (its channel now holds).
    await eventually(async () => {
      try {
        const socket = await connect(node.url, user);
        return (await subscribers(userChannel(user.id))) === 1 ? socket : undefined;
      } catch {
        return undefined;
      }
    });
  });

  it('retries a publish that failed while Redis paused writes, and delivers it without a resync', async () => {
    const [alice, bob] = await Promise.all([registerUser(api, 'rs'), registerUser(api, 'rs')]);
    const bobSocket = await connect(node.url, bob);
    await eventually(async () => ((await redis.admin.ping().catch(() => '')) === 'PONG' ? true : undefined));
    const retriesBefore = await metric(node, 'switchboard_pubsub_publish_retries_total');
    // Writes (PUBLISH among them) wait 300 ms: longer than the 100 ms command timeout, well
    // inside the retry window (100 + 400 + 1,600 ms).
    await redis.admin.call('CLIENT', 'PAUSE', '300', 'WRITE');
    const sent = await sendDirect(alice, bob, 'paused briefly');
    expect(sent.status).toBe(201);
    await bobSocket.waitFor('message.created', (data) => data.message.id === sent.body.message.id);
    expect(await metric(node, 'switchboard_pubsub_publish_retries_total')).toBeGreaterThan(retriesBefore);
    expect(bobSocket.ofType('resync')).toEqual([]);
  });

  it('tells the recipients to resync when a publish is finally given up', async () => {
    const [alice, bob] = await Promise.all([registerUser(api, 'rs'), registerUser(api, 'rs')]);
    const bobSocket = await connect(node.url, bob);
    const givenUpBefore = await metric(node, 'switchboard_pubsub_publishes_given_up_total');
    // Longer than the whole retry window: every attempt times out and the event is given up.
    await redis.admin.call('CLIENT', 'PAUSE', '3500', 'WRITE');
    const sent = await sendDirect(alice, bob, 'paused for long');
    expect(sent.status).toBe(201);
    const told = await bobSocket.waitFor('resync', () => true, 15_000);
    expect(told.data).toEqual({ reason: 'publish failed' });
    expect(await metric(node, 'switchboard_pubsub_publishes_given_up_total')).toBeGreaterThan(givenUpBefore);
    // The notice is counted once its PUBLISH answered, which may be just after bob got the frame.
    await eventually(async () =>
      (await metric(node, 'switchboard_pubsub_resync_notices_total')) > 0 ? true : undefined,
    );
  });
});

describe('a quiet run', () => {
  let quiet: TestServer;
  let quietApi: ApiClient;
  beforeAll(async () => {
    quiet = await startServer({ NODE_ID: 'resync-quiet' });
    quietApi = apiClient(quiet.url);
  });
  afterAll(async () => quiet?.close());

  it('sends no resync at all over a few seconds of sends, receipts and typing without a fault', async () => {
    const users = await Promise.all([0, 1, 2].map(() => registerUser(quietApi, 'quiet')));
    const [a, b, c] = users as [TestUser, TestUser, TestUser];
    const group = await quietApi.post('/api/v1/groups', { name: 'quiet', memberIds: [b.id, c.id] }, a.token);
    expect(group.status).toBe(201);
    const groupId = group.body.group.id as string;
    const socketsHere = await Promise.all(
      users.flatMap((user) => [connect(quiet.url, user), connect(quiet.url, user)]),
    );
    const framesBefore = await metric(quiet, 'switchboard_ws_resync_frames_total');

    const deadline = Date.now() + 3000;
    let round = 0;
    while (Date.now() < deadline) {
      const from = users[round % 3] as TestUser;
      const to = users[(round + 1) % 3] as TestUser;
      const direct = await quietApi.post('/api/v1/messages', { receiverId: to.id, content: `q${round}` }, from.token);
      const inGroup = await quietApi.post('/api/v1/messages', { groupId, content: `g${round}` }, from.token);
      expect([direct.status, inGroup.status]).toEqual([201, 201]);
      const toSocket = socketsHere[((round + 1) % 3) * 2] as TestSocket;
      toSocket.send({
        type: 'read',
        data: { conversationId: direct.body.message.conversationId, messageId: direct.body.message.id },
      });
      toSocket.send({ type: 'ack', data: { conversationId: groupId, messageId: inGroup.body.message.id } });
      if (round % 3 === 0) toSocket.send({ type: 'typing', data: { conversationId: groupId } });
      round++;
    }
    // Everything sent reached its sockets (the run really was live)…
    const last = socketsHere[0] as TestSocket;
    await last.waitFor('message.created', (data) => data.message.content === `g${round - 1}`);
    // …and nothing told anyone to resync.
    for (const socket of socketsHere) expect(socket.ofType('resync')).toEqual([]);
    expect(await metric(quiet, 'switchboard_ws_resync_frames_total')).toBe(framesBefore);
  });
});
