import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { channelSubscribers, listenTo, type TestRedis, testRedis } from '../support/redis.js';
import { type ServerProcess, startServerProcess } from '../support/server.js';
import { connectWs, eventually, type TestSocket } from '../support/ws-client.js';

/** Channel names as cache/keys.ts spells them under the default prefix. */
const userChannel = (id: string) => `sb:v1:ch:user:{${id}}`;
const groupChannel = (id: string) => `sb:v1:ch:group:{${id}}`;

let nodeA: ServerProcess;
let nodeB: ServerProcess;
let api: ApiClient;
let redis: TestRedis;
let listener: TestRedis;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  [nodeA, nodeB] = await Promise.all([
    startServerProcess({ NODE_ID: 'channels-a' }),
    startServerProcess({ NODE_ID: 'channels-b' }),
  ]);
  api = apiClient(nodeA.url);
  redis = testRedis();
  listener = testRedis();
});

afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.close()));
  redis?.disconnect();
  listener?.disconnect();
  await Promise.all([nodeA?.stop('SIGTERM'), nodeB?.stop('SIGTERM')]);
});

async function connect(node: ServerProcess, user: TestUser) {
  const socket = await connectWs(node.url, user.token);
  sockets.push(socket);
  return socket;
}

async function subscribers(channel: string): Promise<number> {
  return channelSubscribers(redis, channel);
}

describe('fan-out channels', () => {
  it('publishes a group message once, on the group channel, with the publishing node id', async () => {
    const members = await Promise.all(Array.from({ length: 5 }, () => registerUser(api)));
    const [owner, ...others] = members as [TestUser, ...TestUser[]];
    const created = await api.post(
      '/api/v1/groups',
      { name: 'o1', memberIds: others.map((member) => member.id) },
      owner.token,
    );
    const groupId = created.body.group.id as string;
    const connected = await Promise.all(members.map((member, i) => connect(i % 2 ? nodeA : nodeB, member)));

    const seen: Array<{ channel: string; envelope: { node: string; event: { type: string } } }> = [];
    // Every channel this send could use: the group's and each member's own.
    const stop = await listenTo(
      listener,
      [groupChannel(groupId), ...members.map((member) => userChannel(member.id))],
      (channel, raw) => seen.push({ channel, envelope: JSON.parse(raw) }),
    );

    const sent = await api.post('/api/v1/messages', { groupId, content: 'once' }, owner.token);
    expect(sent.status).toBe(201);
    const id = sent.body.message.id as string;
    await Promise.all(connected.map((socket) => socket.waitFor('message.created', (data) => data.message.id === id)));
    await stop();

    const carrying = seen.filter((entry) => JSON.stringify(entry.envelope).includes(id));
    expect(carrying).toEqual([
      {
        channel: groupChannel(groupId),
        envelope: { node: 'channels-a', event: expect.objectContaining({ type: 'message.created' }) },
      },
    ]);
  });

  it('subscribes a node to a user’s channel only while that user is connected to it', async () => {
    const user = await registerUser(api);
    expect(await subscribers(userChannel(user.id))).toBe(0);
    const first = await connect(nodeA, user);
    const second = await connect(nodeA, user);
    // Two connections on one node: one subscription.
    expect(await subscribers(userChannel(user.id))).toBe(1);
    const third = await connect(nodeB, user);
    expect(await subscribers(userChannel(user.id))).toBe(2);

    await Promise.all([first.close(), third.close()]);
    await eventually(async () => ((await subscribers(userChannel(user.id))) === 1 ? true : undefined));
    await second.close();
    await eventually(async () => ((await subscribers(userChannel(user.id))) === 0 ? true : undefined));
  });

  it('subscribes a node to a group’s channel only while one of its users is a member', async () => {
    const [owner, member] = await Promise.all([registerUser(api), registerUser(api)]);
    const created = await api.post('/api/v1/groups', { name: 'refs', memberIds: [member.id] }, owner.token);
    const groupId = created.body.group.id as string;
    expect(await subscribers(groupChannel(groupId))).toBe(0);

    const ownerOnA = await connect(nodeA, owner);
    const memberOnA = await connect(nodeA, member);
    expect(await subscribers(groupChannel(groupId))).toBe(1);

    // The member leaves the group: node A keeps the channel for the owner.
    const left = await api.delete(`/api/v1/groups/${groupId}/members/${member.id}`, member.token);
    expect(left.status).toBe(204);
    expect(await subscribers(groupChannel(groupId))).toBe(1);
    await ownerOnA.close();
    await eventually(async () => ((await subscribers(groupChannel(groupId))) === 0 ? true : undefined));
    expect(memberOnA.ws.readyState).toBe(memberOnA.ws.OPEN);
  });
});
