import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { listenTo, testRedis } from '../support/redis.js';
import { type ServerProcess, startServerProcess } from '../support/server.js';
import { connectWs, eventually, type TestSocket } from '../support/ws-client.js';

/**
 * Who gets a group member's watermark move (src/realtime/README.md, "Cost per message"): the
 * senders of the messages it covers and the member's own devices, one publish per user; never
 * the members who sent nothing it covers. Two real server processes, one Redis, one Cassandra.
 */
let nodeA: ServerProcess;
let nodeB: ServerProcess;
let api: ApiClient;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  [nodeA, nodeB] = await Promise.all([
    startServerProcess({ NODE_ID: 'receipts-a' }),
    startServerProcess({ NODE_ID: 'receipts-b' }),
  ]);
  api = apiClient(nodeA.url);
});

afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.close()));
  await Promise.all([nodeA?.stop('SIGTERM'), nodeB?.stop('SIGTERM')]);
});

async function connect(node: ServerProcess, user: TestUser) {
  const socket = await connectWs(node.url, user.token);
  sockets.push(socket);
  return socket;
}

async function sendToGroup(from: TestUser, groupId: string, content: string) {
  const response = await api.post('/api/v1/messages', { groupId, content }, from.token);
  expect(response.status).toBe(201);
  return response.body.message as { id: string };
}

const statusesAbout = (socket: TestSocket, userIds: string[]) =>
  socket.ofType('message.status').filter((frame) => userIds.includes(frame.data.userId));

describe('group receipts reach those who need them', () => {
  it('when every member reads two messages, only their two senders and each reader’s own devices get message.status', async () => {
    const users = await Promise.all(Array.from({ length: 6 }, () => registerUser(api)));
    const [senderOne, senderTwo, ...readers] = users as [TestUser, TestUser, ...TestUser[]];
    const created = await api.post(
      '/api/v1/groups',
      { name: 'receipts', memberIds: users.slice(1).map((user) => user.id) },
      senderOne.token,
    );
    expect(created.status).toBe(201);
    const groupId = created.body.group.id as string;
    // Members spread over both nodes; the first reader also has a second device on the other node.
    const socketOf = new Map<string, TestSocket>();
    for (const [index, user] of users.entries()) socketOf.set(user.id, await connect(index % 2 ? nodeB : nodeA, user));
    const firstReader = readers[0] as TestUser;
    const secondDevice = await connect(nodeA, firstReader);
    const socket = (user: TestUser) => socketOf.get(user.id) as TestSocket;

    await sendToGroup(senderOne, groupId, 'one');
    const second = await sendToGroup(senderTwo, groupId, 'two');
    for (const reader of readers) {
      await socket(reader).waitFor('message.created', (data) => data.message.id === second.id);
    }

    // Each reader reads up to the second message: the move covers both messages.
    for (const reader of readers) {
      socket(reader).send({ type: 'read', data: { conversationId: groupId, messageId: second.id } });
    }
    const readerIds = readers.map((reader) => reader.id);
    for (const sender of [senderOne, senderTwo]) {
      for (const reader of readers) {
        await socket(sender).waitFor(
          'message.status',
          (data) => data.userId === reader.id && data.readUpTo === second.id,
        );
      }
    }
    await secondDevice.waitFor('message.status', (data) => data.userId === firstReader.id);

    // A marker published after every receipt: once it is in, no receipt frame is still on its way.
    const marker = await sendToGroup(senderOne, groupId, 'marker');
    for (const each of [...socketOf.values(), secondDevice]) {
      await each.waitFor('message.created', (data) => data.message.id === marker.id);
    }

    // Senders: exactly one frame per reader, each with the reader's new watermarks.
    for (const sender of [senderOne, senderTwo]) {
      const frames = statusesAbout(socket(sender), readerIds);
      expect(frames.map((frame) => frame.data.userId).sort()).toEqual([...readerIds].sort());
      for (const frame of frames) {
        expect(frame.data).toEqual({
          conversationId: groupId,
          userId: frame.data.userId,
          deliveredUpTo: second.id,
          readUpTo: second.id,
        });
      }
    }
    // Members who are not senders: nothing about anyone else, only their own move.
    for (const reader of readers) {
      expect(
        statusesAbout(
          socket(reader),
          readerIds.filter((id) => id !== reader.id),
        ),
      ).toEqual([]);
      expect(statusesAbout(socket(reader), [reader.id])).toHaveLength(1);
    }
    // The reader's other device is told of the read done on the first one.
    expect(secondDevice.ofType('message.status').map((frame) => frame.data)).toEqual([
      { conversationId: groupId, userId: firstReader.id, deliveredUpTo: second.id, readUpTo: second.id },
    ]);
    // 4 reads in a 6-member group: 4 × (2 senders + the reader's socket) + the second device = 13 frames.
    // On the group channel every other member's socket got each read: 5 + 3 × 6 = 23.
    const total = [...socketOf.values(), secondDevice].reduce(
      (sum, each) => sum + each.ofType('message.status').length,
      0,
    );
    expect(total).toBe(13);
  });

  it('a read that covers only one sender’s message does not reach the other sender', async () => {
    const users = await Promise.all(Array.from({ length: 3 }, () => registerUser(api)));
    const [earlier, later, reader] = users as [TestUser, TestUser, TestUser];
    const created = await api.post(
      '/api/v1/groups',
      { name: 'receipts', memberIds: [later.id, reader.id] },
      earlier.token,
    );
    const groupId = created.body.group.id as string;
    const earlierOnA = await connect(nodeA, earlier);
    const laterOnB = await connect(nodeB, later);
    const readerOnB = await connect(nodeB, reader);
    const first = await sendToGroup(earlier, groupId, 'first');
    const response = await api.post(
      `/api/v1/conversations/${groupId}/receipts`,
      { messageId: first.id, status: 'read' },
      reader.token,
    );
    expect(response.status).toBe(200);
    await earlierOnA.waitFor('message.status', (data) => data.userId === reader.id && data.readUpTo === first.id);
    await readerOnB.waitFor('message.status', (data) => data.userId === reader.id);
    // The later sender's message comes after the read: it is not covered, so its sender hears nothing of it.
    const second = await sendToGroup(later, groupId, 'second');
    await laterOnB.waitFor('message.created', (data) => data.message.id === second.id);
    expect(laterOnB.ofType('message.status')).toEqual([]);
  });

  it('publishes a group read once on the sender’s channel and once on the reader’s, never on the group channel', async () => {
    const users = await Promise.all(Array.from({ length: 4 }, () => registerUser(api)));
    const [sender, reader, ...rest] = users as [TestUser, TestUser, ...TestUser[]];
    const created = await api.post(
      '/api/v1/groups',
      { name: 'receipts', memberIds: [reader.id, ...rest.map((user) => user.id)] },
      sender.token,
    );
    const groupId = created.body.group.id as string;
    const senderOnA = await connect(nodeA, sender);
    for (const user of [reader, ...rest]) await connect(nodeB, user);
    const message = await sendToGroup(sender, groupId, 'count the publishes');

    const listener = testRedis();
    try {
      const seen: Array<{ channel: string; raw: string }> = [];
      // Every channel a receipt could go on: the group's and each member's own.
      await listenTo(
        listener,
        [`sb:v1:ch:group:{${groupId}}`, ...users.map((user) => `sb:v1:ch:user:{${user.id}}`)],
        (channel, raw) => seen.push({ channel, raw }),
      );
      const response = await api.post(
        `/api/v1/conversations/${groupId}/receipts`,
        { messageId: message.id, status: 'read' },
        reader.token,
      );
      expect(response.status).toBe(200);
      await senderOnA.waitFor('message.status', (data) => data.userId === reader.id);
      // A marker on the group channel, published after the receipt: once the listener has it, it has every receipt publish.
      const marker = await sendToGroup(sender, groupId, 'marker');
      await eventually(async () => (seen.some((entry) => entry.raw.includes(marker.id)) ? true : undefined));
      const receipts = seen.filter((entry) => JSON.parse(entry.raw).event.type === 'message.status');
      expect(receipts.map((entry) => entry.channel).sort()).toEqual(
        [`sb:v1:ch:user:{${sender.id}}`, `sb:v1:ch:user:{${reader.id}}`].sort(),
      );
    } finally {
      listener.disconnect();
    }
  });
});
