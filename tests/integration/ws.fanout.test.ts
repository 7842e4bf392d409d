import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { type ServerProcess, startServerProcess } from '../support/server.js';
import { connectWs, type TestSocket } from '../support/ws-client.js';

/** Two real server processes sharing the one Redis and Cassandra. */
let nodeA: ServerProcess;
let nodeB: ServerProcess;
let apiA: ApiClient;
let apiB: ApiClient;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  [nodeA, nodeB] = await Promise.all([
    startServerProcess({ NODE_ID: 'fanout-a', WS_TYPING_MIN_INTERVAL_MS: '0' }),
    startServerProcess({ NODE_ID: 'fanout-b', WS_TYPING_MIN_INTERVAL_MS: '0' }),
  ]);
  apiA = apiClient(nodeA.url);
  apiB = apiClient(nodeB.url);
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

async function send(api: ApiClient, from: TestUser, to: { receiverId: string } | { groupId: string }, content: string) {
  const response = await api.post('/api/v1/messages', { ...to, content }, from.token);
  expect(response.status).toBe(201);
  return response.body.message as { id: string; conversationId: string; content: string };
}

async function createGroup(owner: TestUser, members: TestUser[]) {
  const response = await apiA.post(
    '/api/v1/groups',
    { name: 'fan-out', memberIds: members.map((member) => member.id) },
    owner.token,
  );
  expect(response.status).toBe(201);
  return response.body.group.id as string;
}

const created = (id: string) => (data: { message: { id: string } }) => data.message.id === id;

/**
 * Proves a socket did not get a message: after `marker` (a direct message sent later to the
 * same user) arrives, nothing with `id` came before it. Redis delivers one subscriber's
 * messages in publish order, so a wrongly routed earlier message would have arrived first.
 */
async function expectNotReceived(socket: TestSocket, id: string, marker: () => Promise<{ id: string }>) {
  const sent = await marker();
  await socket.waitFor('message.created', created(sent.id));
  expect(socket.ofType('message.created').map((frame) => frame.data.message.id)).not.toContain(id);
}

describe('message.created fan-out', () => {
  it('reaches every connection of both participants on both nodes, the sender’s other connections included', async () => {
    const [alice, bob] = await Promise.all([registerUser(apiA), registerUser(apiA)]);
    const aliceOnA = await connect(nodeA, alice);
    const aliceOnB = await connect(nodeB, alice);
    const bobOnA = await connect(nodeA, bob);
    const bobOnB = await connect(nodeB, bob);

    const message = await send(apiA, alice, { receiverId: bob.id }, 'hello across nodes');

    for (const socket of [aliceOnA, aliceOnB, bobOnA, bobOnB]) {
      const frame = await socket.waitFor('message.created', created(message.id));
      expect(frame.data.message).toEqual(message);
    }
  });

  it('does not reach a user outside the conversation', async () => {
    const [alice, bob, carol] = await Promise.all([registerUser(apiA), registerUser(apiA), registerUser(apiA)]);
    const carolOnB = await connect(nodeB, carol);
    const bobOnB = await connect(nodeB, bob);

    const message = await send(apiA, alice, { receiverId: bob.id }, 'private');
    await bobOnB.waitFor('message.created', created(message.id));
    await expectNotReceived(carolOnB, message.id, () => send(apiA, alice, { receiverId: carol.id }, 'marker'));
  });

  it('delivers a group message to members connected to either node, and to no outsider', async () => {
    const [owner, member1, member2, outsider] = await Promise.all([
      registerUser(apiA),
      registerUser(apiA),
      registerUser(apiA),
      registerUser(apiA),
    ]);
    const groupId = await createGroup(owner, [member1, member2]);
    const ownerOnA = await connect(nodeA, owner);
    const member1OnA = await connect(nodeA, member1);
    const member2OnB = await connect(nodeB, member2);
    const outsiderOnB = await connect(nodeB, outsider);

    const message = await send(apiB, member1, { groupId }, 'hello group');
    for (const socket of [ownerOnA, member1OnA, member2OnB]) {
      const frame = await socket.waitFor('message.created', created(message.id));
      expect(frame.data.message).toMatchObject({ id: message.id, groupId, content: 'hello group' });
    }
    await expectNotReceived(outsiderOnB, message.id, () => send(apiA, owner, { receiverId: outsider.id }, 'marker'));
  });

  it('starts delivering a group’s messages to a member added while connected, and stops after removal', async () => {
    const [owner, newcomer] = await Promise.all([registerUser(apiA), registerUser(apiA)]);
    const groupId = await createGroup(owner, []);
    const newcomerOnB = await connect(nodeB, newcomer);

    const added = await apiA.post(`/api/v1/groups/${groupId}/members`, { userId: newcomer.id }, owner.token);
    expect(added.status).toBe(201);
    // The membership change reaches node B through Redis; poll with fresh messages until one arrives.
    let seen: string | undefined;
    for (let attempt = 0; attempt < 50 && !seen; attempt++) {
      const message = await send(apiA, owner, { groupId }, `after join ${attempt}`);
      seen = await newcomerOnB
        .waitFor('message.created', created(message.id), 300)
        .then(() => message.id)
        .catch(() => undefined);
    }
    expect(seen).toBeDefined();

    const removed = await apiA.delete(`/api/v1/groups/${groupId}/members/${newcomer.id}`, owner.token);
    expect(removed.status).toBe(204);
    // After the removal is processed, group messages stop; a later direct message proves the order.
    const ownerOnA = await connect(nodeA, owner);
    let lastGroupMessage = '';
    for (let attempt = 0; attempt < 50; attempt++) {
      const message = await send(apiA, owner, { groupId }, `after leave ${attempt}`);
      await ownerOnA.waitFor('message.created', created(message.id));
      lastGroupMessage = message.id;
      const got = await newcomerOnB
        .waitFor('message.created', created(message.id), 300)
        .then(() => true)
        .catch(() => false);
      if (!got) break;
    }
    await expectNotReceived(newcomerOnB, lastGroupMessage, () =>
      send(apiA, owner, { receiverId: newcomer.id }, 'marker'),
    );
  });
});

describe('receipts over WebSocket', () => {
  it('an ack moves the delivered watermark and the sender on the other node gets message.status', async () => {
    const [alice, bob] = await Promise.all([registerUser(apiA), registerUser(apiA)]);
    const aliceOnA = await connect(nodeA, alice);
    const bobOnB = await connect(nodeB, bob);
    const message = await send(apiA, alice, { receiverId: bob.id }, 'please ack');
    await bobOnB.waitFor('message.created', created(message.id));

    bobOnB.send({ type: 'ack', data: { conversationId: message.conversationId, messageId: message.id } });
    const status = await aliceOnA.waitFor('message.status', (data) => data.deliveredUpTo === message.id);
    expect(status.data).toEqual({
      conversationId: message.conversationId,
      userId: bob.id,
      deliveredUpTo: message.id,
      readUpTo: null,
    });
    const receipts = await apiA.get(`/api/v1/conversations/${message.conversationId}/receipts`, alice.token);
    expect(receipts.status).toBe(200);
    expect(JSON.stringify(receipts.body)).toContain(message.id);
    // The acting user is not told about their own watermark.
    expect(bobOnB.ofType('message.status')).toEqual([]);
  });

  it('a read frame in a group reaches the sender and the reader’s other devices, not the other members', async () => {
    const [owner, reader, third] = await Promise.all([registerUser(apiA), registerUser(apiA), registerUser(apiA)]);
    const groupId = await createGroup(owner, [reader, third]);
    const ownerOnA = await connect(nodeA, owner);
    const readerOnB = await connect(nodeB, reader);
    const readerOnA = await connect(nodeA, reader);
    const thirdOnB = await connect(nodeB, third);
    const message = await send(apiA, owner, { groupId }, 'read me');
    await readerOnB.waitFor('message.created', created(message.id));

    readerOnB.send({ type: 'read', data: { conversationId: groupId, messageId: message.id } });
    for (const socket of [ownerOnA, readerOnA]) {
      const status = await socket.waitFor('message.status', (data) => data.readUpTo === message.id);
      expect(status.data).toEqual({
        conversationId: groupId,
        userId: reader.id,
        deliveredUpTo: message.id,
        readUpTo: message.id,
      });
    }
    // The third member sent nothing the read covers: a later group message arrives with no status before it.
    const marker = await send(apiA, owner, { groupId }, 'marker');
    await thirdOnB.waitFor('message.created', created(marker.id));
    expect(thirdOnB.ofType('message.status')).toEqual([]);
  });

  it('a receipt moved over REST is pushed to the other participant', async () => {
    const [alice, bob] = await Promise.all([registerUser(apiA), registerUser(apiA)]);
    const aliceOnB = await connect(nodeB, alice);
    const message = await send(apiA, alice, { receiverId: bob.id }, 'rest receipt');
    const response = await apiB.post(
      `/api/v1/conversations/${message.conversationId}/receipts`,
      { messageId: message.id, status: 'read' },
      bob.token,
    );
    expect(response.status).toBe(200);
    const status = await aliceOnB.waitFor('message.status', (data) => data.readUpTo === message.id);
    expect(status.data.userId).toBe(bob.id);
  });

  it('refuses an ack in a conversation the user is not part of with a FORBIDDEN error frame', async () => {
    const [alice, bob, mallory] = await Promise.all([registerUser(apiA), registerUser(apiA), registerUser(apiA)]);
    const message = await send(apiA, alice, { receiverId: bob.id }, 'not yours');
    const malloryOnA = await connect(nodeA, mallory);
    malloryOnA.send({
      type: 'ack',
      id: 'ack-1',
      data: { conversationId: message.conversationId, messageId: message.id },
    });
    const error = await malloryOnA.waitFor('error');
    expect(error.data).toMatchObject({ code: 'FORBIDDEN', id: 'ack-1', detail: expect.any(String) });
    expect(malloryOnA.ws.readyState).toBe(malloryOnA.ws.OPEN);
  });
});

describe('typing', () => {
  it('relays typing to the other participant on another node and not back to the typist', async () => {
    const [alice, bob] = await Promise.all([registerUser(apiA), registerUser(apiA)]);
    const aliceOnA = await connect(nodeA, alice);
    const aliceOnB = await connect(nodeB, alice);
    const bobOnB = await connect(nodeB, bob);
    const conversationId = alice.id < bob.id ? `dm_${alice.id}_${bob.id}` : `dm_${bob.id}_${alice.id}`;

    aliceOnA.send({ type: 'typing', data: { conversationId } });
    const typing = await bobOnB.waitFor('typing');
    expect(typing.data).toEqual({ conversationId, userId: alice.id });

    // Then bob types back: alice's connections get it; bob's own does not get his.
    bobOnB.send({ type: 'typing', data: { conversationId } });
    await aliceOnA.waitFor('typing', (data) => data.userId === bob.id);
    await aliceOnB.waitFor('typing', (data) => data.userId === bob.id);
    expect(aliceOnA.ofType('typing').map((frame) => frame.data.userId)).toEqual([bob.id]);
    expect(bobOnB.ofType('typing').map((frame) => frame.data.userId)).toEqual([alice.id]);
  });

  it('relays typing in a group to the other members only', async () => {
    const [owner, member] = await Promise.all([registerUser(apiA), registerUser(apiA)]);
    const groupId = await createGroup(owner, [member]);
    const ownerOnA = await connect(nodeA, owner);
    const memberOnB = await connect(nodeB, member);
    memberOnB.send({ type: 'typing', data: { conversationId: groupId } });
    expect((await ownerOnA.waitFor('typing')).data).toEqual({ conversationId: groupId, userId: member.id });
    // A marker message sent afterwards arrives after any typing echo would have.
    const message = await send(apiA, owner, { groupId }, 'marker');
    await memberOnB.waitFor('message.created', created(message.id));
    expect(memberOnB.ofType('typing')).toEqual([]);
  });

  it('refuses typing in a group the user is not a member of', async () => {
    const [owner, outsider] = await Promise.all([registerUser(apiA), registerUser(apiA)]);
    const groupId = await createGroup(owner, []);
    const ownerOnA = await connect(nodeA, owner);
    const outsiderOnB = await connect(nodeB, outsider);
    outsiderOnB.send({ type: 'typing', data: { conversationId: groupId } });
    expect((await outsiderOnB.waitFor('error')).data.code).toBe('FORBIDDEN');
    const message = await send(apiA, owner, { groupId }, 'marker');
    await ownerOnA.waitFor('message.created', created(message.id));
    expect(ownerOnA.ofType('typing')).toEqual([]);
  });
});
