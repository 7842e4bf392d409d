import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directConversationId } from '../../src/domain/conversations.js';
import { newId } from '../../src/domain/ids.js';
import {
  type ApiClient,
  type ApiResponse,
  apiClient,
  expectProblem,
  registerUser,
  type TestUser,
} from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';

type Role = 'owner' | 'member' | 'outsider';

/**
 * The authorization matrix of every message and receipt endpoint: in a group for its owner, a
 * member and an outsider; in a one-to-one conversation for both participants and an outsider.
 */
describe('message endpoints: who may read and write a conversation', () => {
  let server: TestServer;
  let api: ApiClient;
  let owner: TestUser;
  let member: TestUser;
  let outsider: TestUser;
  let groupId: string;
  let groupMessageId: string;
  let dmId: string;
  let dmMessageId: string;

  beforeAll(async () => {
    server = await startServer();
    api = apiClient(server.url);
    [owner, member, outsider] = (await Promise.all([
      registerUser(api, 'mauth'),
      registerUser(api, 'mauth'),
      registerUser(api, 'mauth'),
    ])) as [TestUser, TestUser, TestUser];
    groupId = (await api.post('/api/v1/groups', { name: 'Private', memberIds: [member.id] }, owner.token)).body.group
      .id;
    groupMessageId = (await api.post('/api/v1/messages', { groupId, content: 'members only' }, owner.token)).body
      .message.id;
    // The one-to-one conversation is between the owner and the member; the outsider is not in it.
    dmId = directConversationId(owner.id, member.id);
    dmMessageId = (await api.post('/api/v1/messages', { receiverId: member.id, content: 'just us' }, owner.token)).body
      .message.id;
  });
  afterAll(async () => server?.close());

  const callers = (): Record<Role, TestUser> => ({ owner, member, outsider });

  const expectOutcome = (response: ApiResponse, status: number) => {
    if (status >= 400) {
      expectProblem(response, status, status === 403 ? 'FORBIDDEN' : 'NOT_FOUND');
      // A refusal carries nothing of the conversation.
      const text = JSON.stringify(response.body);
      expect(text).not.toContain('members only');
      expect(text).not.toContain('just us');
    } else {
      expect(response.status, JSON.stringify(response.body)).toBe(status);
    }
  };

  const rows: Array<{
    endpoint: string;
    call: (caller: TestUser) => Promise<ApiResponse>;
    expected: Record<Role, number>;
  }> = [
    {
      endpoint: 'POST /messages to the group',
      call: (caller) => api.post('/api/v1/messages', { groupId, content: `from ${caller.username}` }, caller.token),
      expected: { owner: 201, member: 201, outsider: 403 },
    },
    {
      endpoint: 'GET /messages?groupId',
      call: (caller) => api.get(`/api/v1/messages?groupId=${groupId}`, caller.token),
      expected: { owner: 200, member: 200, outsider: 403 },
    },
    {
      endpoint: 'GET /messages?conversationId=<group>',
      call: (caller) => api.get(`/api/v1/messages?conversationId=${groupId}`, caller.token),
      expected: { owner: 200, member: 200, outsider: 403 },
    },
    {
      endpoint: 'GET /messages with a date range in the group',
      call: (caller) => api.get(`/api/v1/messages?groupId=${groupId}&from=0&to=${Date.now() + 60_000}`, caller.token),
      expected: { owner: 200, member: 200, outsider: 403 },
    },
    {
      endpoint: 'POST /conversations/<group>/receipts',
      call: (caller) =>
        api.post(
          `/api/v1/conversations/${groupId}/receipts`,
          { messageId: groupMessageId, status: 'read' },
          caller.token,
        ),
      expected: { owner: 200, member: 200, outsider: 403 },
    },
    {
      endpoint: 'GET /conversations/<group>/receipts',
      call: (caller) => api.get(`/api/v1/conversations/${groupId}/receipts`, caller.token),
      expected: { owner: 200, member: 200, outsider: 403 },
    },
    {
      endpoint: 'GET /messages?conversationId=<one-to-one>',
      call: (caller) => api.get(`/api/v1/messages?conversationId=${dmId}`, caller.token),
      expected: { owner: 200, member: 200, outsider: 403 },
    },
    {
      endpoint: 'POST /conversations/<one-to-one>/receipts',
      call: (caller) =>
        api.post(
          `/api/v1/conversations/${dmId}/receipts`,
          { messageId: dmMessageId, status: 'delivered' },
          caller.token,
        ),
      expected: { owner: 200, member: 200, outsider: 403 },
    },
    {
      endpoint: 'GET /conversations/<one-to-one>/receipts',
      call: (caller) => api.get(`/api/v1/conversations/${dmId}/receipts`, caller.token),
      expected: { owner: 200, member: 200, outsider: 403 },
    },
  ];

  for (const row of rows) {
    for (const role of ['owner', 'member', 'outsider'] as const) {
      it(`${row.endpoint} answers the ${role === 'owner' ? 'owner / first participant' : role === 'member' ? 'member / second participant' : 'outsider'} ${row.expected[role]}`, async () => {
        expectOutcome(await row.call(callers()[role]), row.expected[role]);
      });
    }
  }

  it('lets members read what was sent, and shows the outsider nothing of it', async () => {
    const asMember = await api.get(`/api/v1/messages?groupId=${groupId}&limit=100`, member.token);
    expect(asMember.body.messages.map((m: { id: string }) => m.id)).toContain(groupMessageId);
    const outsiderSend = await api.post('/api/v1/messages', { groupId, content: 'let me in' }, outsider.token);
    expectProblem(outsiderSend, 403, 'FORBIDDEN');
    const after = await api.get(`/api/v1/messages?groupId=${groupId}&limit=100`, owner.token);
    expect(after.body.messages.some((m: { content: string }) => m.content === 'let me in')).toBe(false);
  });

  it('does not let the outsider move anyone’s watermark', async () => {
    const before = await api.get(`/api/v1/conversations/${dmId}/receipts`, owner.token);
    await api.post(
      `/api/v1/conversations/${dmId}/receipts`,
      { messageId: dmMessageId, status: 'read' },
      outsider.token,
    );
    const after = await api.get(`/api/v1/conversations/${dmId}/receipts`, owner.token);
    expect(after.body).toEqual(before.body);
    expect(after.body.receipts.map((r: { userId: string }) => r.userId).sort()).toEqual([owner.id, member.id].sort());
  });

  describe('unknown conversations', () => {
    it('answers 404 for a group that does not exist, on every endpoint', async () => {
      const ghost = newId();
      expectProblem(
        await api.post('/api/v1/messages', { groupId: ghost, content: 'x' }, owner.token),
        404,
        'NOT_FOUND',
      );
      expectProblem(await api.get(`/api/v1/messages?groupId=${ghost}`, owner.token), 404, 'NOT_FOUND');
      expectProblem(await api.get(`/api/v1/messages?conversationId=${ghost}`, owner.token), 404, 'NOT_FOUND');
      expectProblem(
        await api.post(
          `/api/v1/conversations/${ghost}/receipts`,
          { messageId: groupMessageId, status: 'read' },
          owner.token,
        ),
        404,
        'NOT_FOUND',
      );
      expectProblem(await api.get(`/api/v1/conversations/${ghost}/receipts`, owner.token), 404, 'NOT_FOUND');
    });

    it('answers 404 for a one-to-one id with its users out of order', async () => {
      const [first, second] = [owner.id, member.id].sort() as [string, string];
      const reversed = `dm_${second}_${first}`;
      expectProblem(await api.get(`/api/v1/messages?conversationId=${reversed}`, owner.token), 404, 'NOT_FOUND');
      expectProblem(await api.get(`/api/v1/conversations/${reversed}/receipts`, owner.token), 404, 'NOT_FOUND');
    });

    it('answers 404 for the history with a peer who does not exist', async () => {
      expectProblem(await api.get(`/api/v1/messages?peerId=${newId()}`, owner.token), 404, 'NOT_FOUND');
    });

    it('answers 400 for conversation ids of the wrong shape', async () => {
      expectProblem(await api.get('/api/v1/conversations/general/receipts', owner.token), 400, 'VALIDATION_FAILED');
      expectProblem(await api.get('/api/v1/messages?conversationId=dm_1_2', owner.token), 400, 'VALIDATION_FAILED');
    });
  });
});
