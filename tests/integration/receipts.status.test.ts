import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directConversationId } from '../../src/domain/conversations.js';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';

type Status = 'sent' | 'delivered' | 'read';

describe('message status and the receipts list', () => {
  let server: TestServer;
  let api: ApiClient;

  beforeAll(async () => {
    server = await startServer();
    api = apiClient(server.url);
  });
  afterAll(async () => server?.close());

  const users = (count: number) => Promise.all(Array.from({ length: count }, () => registerUser(api, 'st')));

  const send = async (from: TestUser, target: { receiverId: string } | { groupId: string }, content: string) => {
    const response = await api.post('/api/v1/messages', { ...target, content }, from.token);
    expect(response.status).toBe(201);
    expect(response.body.message.status).toBe('sent');
    return response.body.message.id as string;
  };

  const mark = async (caller: TestUser, conversationId: string, messageId: string, status: 'delivered' | 'read') => {
    const response = await api.post(
      `/api/v1/conversations/${conversationId}/receipts`,
      { messageId, status },
      caller.token,
    );
    expect(response.status).toBe(200);
  };

  /** Status of each message as `viewer` sees it in the history, by id. */
  const statuses = async (viewer: TestUser, conversationId: string): Promise<Record<string, Status>> => {
    const response = await api.get(`/api/v1/messages?conversationId=${conversationId}&limit=100`, viewer.token);
    expect(response.status).toBe(200);
    return Object.fromEntries(
      response.body.messages.map((message: { id: string; status: Status }) => [message.id, message.status]),
    );
  };

  describe('one-to-one', () => {
    it('goes sent → delivered → read as the receiver moves their watermarks, the same for both viewers', async () => {
      const [alice, bob] = (await users(2)) as [TestUser, TestUser];
      const conversationId = directConversationId(alice.id, bob.id);
      const m1 = await send(alice, { receiverId: bob.id }, 'one');
      const m2 = await send(alice, { receiverId: bob.id }, 'two');
      const m3 = await send(alice, { receiverId: bob.id }, 'three');
      expect(await statuses(alice, conversationId)).toEqual({ [m1]: 'sent', [m2]: 'sent', [m3]: 'sent' });

      await mark(bob, conversationId, m2, 'delivered');
      const afterDelivery = { [m1]: 'delivered', [m2]: 'delivered', [m3]: 'sent' };
      expect(await statuses(alice, conversationId)).toEqual(afterDelivery);
      expect(await statuses(bob, conversationId)).toEqual(afterDelivery);

      await mark(bob, conversationId, m1, 'read');
      expect(await statuses(alice, conversationId)).toEqual({ [m1]: 'read', [m2]: 'delivered', [m3]: 'sent' });

      await mark(bob, conversationId, m3, 'read');
      expect(await statuses(bob, conversationId)).toEqual({ [m1]: 'read', [m2]: 'read', [m3]: 'read' });
    });

    it("ignores the sender's own watermarks", async () => {
      const [alice, bob] = (await users(2)) as [TestUser, TestUser];
      const conversationId = directConversationId(alice.id, bob.id);
      const mine = await send(alice, { receiverId: bob.id }, 'mine');
      await mark(alice, conversationId, mine, 'read');
      expect((await statuses(alice, conversationId))[mine]).toBe('sent');
    });

    it("computes each message's status from the other side, whoever sent it", async () => {
      const [alice, bob] = (await users(2)) as [TestUser, TestUser];
      const conversationId = directConversationId(alice.id, bob.id);
      const fromAlice = await send(alice, { receiverId: bob.id }, 'from alice');
      const fromBob = await send(bob, { receiverId: alice.id }, 'from bob');
      // Bob reads everything (his watermark passes his own message too); Alice has read nothing.
      await mark(bob, conversationId, fromBob, 'read');
      expect(await statuses(alice, conversationId)).toEqual({ [fromAlice]: 'read', [fromBob]: 'sent' });
      await mark(alice, conversationId, fromBob, 'delivered');
      expect(await statuses(bob, conversationId)).toEqual({ [fromAlice]: 'read', [fromBob]: 'delivered' });
    });
  });

  describe('groups', () => {
    it('is read only when every other member has read, delivered when all have it', async () => {
      const [owner, bob, carol] = (await users(3)) as [TestUser, TestUser, TestUser];
      const group = await api.post('/api/v1/groups', { name: 'Status', memberIds: [bob.id, carol.id] }, owner.token);
      const groupId = group.body.group.id as string;
      const g1 = await send(owner, { groupId }, 'hello all');

      await mark(bob, groupId, g1, 'read');
      expect((await statuses(owner, groupId))[g1]).toBe('sent');
      await mark(carol, groupId, g1, 'delivered');
      expect((await statuses(owner, groupId))[g1]).toBe('delivered');
      expect((await statuses(carol, groupId))[g1]).toBe('delivered');
      await mark(carol, groupId, g1, 'read');
      expect((await statuses(bob, groupId))[g1]).toBe('read');
    });

    it("counts the owner among the others for a member's message", async () => {
      const [owner, bob, carol] = (await users(3)) as [TestUser, TestUser, TestUser];
      const groupId = (await api.post('/api/v1/groups', { name: 'Others', memberIds: [bob.id, carol.id] }, owner.token))
        .body.group.id as string;
      const fromBob = await send(bob, { groupId }, 'from bob');
      await mark(carol, groupId, fromBob, 'read');
      expect((await statuses(bob, groupId))[fromBob]).toBe('sent');
      await mark(owner, groupId, fromBob, 'read');
      expect((await statuses(bob, groupId))[fromBob]).toBe('read');
    });
  });

  describe('GET /api/v1/conversations/:conversationId/receipts', () => {
    it('lists both participants of a one-to-one conversation, with null watermarks until they move', async () => {
      const [alice, bob] = (await users(2)) as [TestUser, TestUser];
      const conversationId = directConversationId(alice.id, bob.id);
      const response = await api.get(`/api/v1/conversations/${conversationId}/receipts`, alice.token);
      expect(response.status).toBe(200);
      expect(response.body.receipts).toHaveLength(2);
      expect(response.body.receipts).toEqual(
        expect.arrayContaining([
          { conversationId, userId: alice.id, deliveredUpTo: null, readUpTo: null },
          { conversationId, userId: bob.id, deliveredUpTo: null, readUpTo: null },
        ]),
      );
    });

    it('lists every current member of a group, and drops one who left', async () => {
      const [owner, bob, carol, dave] = (await users(4)) as [TestUser, TestUser, TestUser, TestUser];
      const groupId = (
        await api.post('/api/v1/groups', { name: 'Roll call', memberIds: [bob.id, carol.id, dave.id] }, owner.token)
      ).body.group.id as string;
      const g1 = await send(owner, { groupId }, 'roll call');
      await mark(bob, groupId, g1, 'read');
      await mark(carol, groupId, g1, 'delivered');
      const list = async () =>
        (await api.get(`/api/v1/conversations/${groupId}/receipts`, bob.token)).body.receipts as Array<{
          userId: string;
          deliveredUpTo: string | null;
          readUpTo: string | null;
        }>;
      const byUser = Object.fromEntries((await list()).map((r) => [r.userId, [r.deliveredUpTo, r.readUpTo]]));
      expect(byUser).toEqual({
        [owner.id]: [null, null],
        [bob.id]: [g1, g1],
        [carol.id]: [g1, null],
        [dave.id]: [null, null],
      });
      expect((await api.delete(`/api/v1/groups/${groupId}/members/${dave.id}`, dave.token)).status).toBe(204);
      expect((await list()).map((r) => r.userId).sort()).toEqual([owner.id, bob.id, carol.id].sort());
      // Dave was the one holding the message back; without him everyone else decides.
      await mark(carol, groupId, g1, 'read');
      expect((await statuses(owner, groupId))[g1]).toBe('read');
    });
  });
});
