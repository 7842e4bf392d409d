import { expect } from 'vitest';
import { type ApiClient, type ApiResponse, apiClient, registerUser, type TestUser } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';
import { connectWs, type TestSocket } from '../support/ws-client.js';

/**
 * Helpers of the edit / delete / reaction tests (messages.edit-delete, messages.reactions,
 * sync.message-changes): two API nodes in this process sharing the real Cassandra and Redis, a
 * one-to-one pair and a group with an admin, and the four mutation calls.
 */

export interface Nodes {
  a: TestServer;
  b: TestServer;
  apiA: ApiClient;
  apiB: ApiClient;
  sockets: TestSocket[];
  close(): Promise<void>;
}

export async function startNodes(overrides: Record<string, string> = {}): Promise<Nodes> {
  const [a, b] = await Promise.all([
    startServer({ NODE_ID: 'mutations-a', RATE_LIMIT_ENABLED: 'false', ...overrides }),
    startServer({ NODE_ID: 'mutations-b', RATE_LIMIT_ENABLED: 'false', ...overrides }),
  ]);
  const sockets: TestSocket[] = [];
  return {
    a,
    b,
    apiA: apiClient(a.url),
    apiB: apiClient(b.url),
    sockets,
    async close() {
      await Promise.all(sockets.map((socket) => socket.close()));
      await Promise.all([a.close(), b.close()]);
    },
  };
}

export async function connect(nodes: Nodes, node: TestServer, user: TestUser) {
  const socket = await connectWs(node.url, user.token);
  nodes.sockets.push(socket);
  return socket;
}

/** A fresh one-to-one pair. */
export async function pair(nodes: Nodes) {
  const [alice, bob] = await Promise.all([registerUser(nodes.apiA), registerUser(nodes.apiA)]);
  return { alice, bob };
}

/** One connection of each user on each node. */
export async function connectOnBothNodes(nodes: Nodes, users: TestUser[]): Promise<TestSocket[]> {
  const sockets: TestSocket[] = [];
  for (const user of users) for (const node of [nodes.a, nodes.b]) sockets.push(await connect(nodes, node, user));
  return sockets;
}

/**
 * Proves `socket` got no `type` frame: a later direct message to its user (`marker`) arrives, and
 * nothing of that type came before it (Redis delivers one subscriber's messages in publish order).
 */
export async function expectNoneBefore(socket: TestSocket, type: string, marker: () => Promise<{ id: string }>) {
  const sent = await marker();
  await socket.waitFor('message.created', (data) => data.message.id === sent.id);
  expect(socket.ofType(type)).toEqual([]);
}

export interface SentMessage {
  id: string;
  conversationId: string;
  content: string | null;
  senderId: string;
  createdAt: string;
  editedAt: string | null;
  deletedAt: string | null;
  reactions: Array<{ emoji: string; count: number; me: boolean }>;
}

export async function send(
  api: ApiClient,
  from: TestUser,
  to: { receiverId: string } | { groupId: string },
  content: string,
) {
  const response = await api.post('/api/v1/messages', { ...to, content }, from.token);
  expect(response.status).toBe(201);
  return response.body.message as SentMessage;
}

/** owner, admin, member and outsider of a new group (admin's role written as the roles feature stores it). */
export async function groupWithRoles(nodes: Nodes) {
  const api = nodes.apiA;
  const [owner, admin, member, outsider] = await Promise.all([
    registerUser(api),
    registerUser(api),
    registerUser(api),
    registerUser(api),
  ]);
  const response = await api.post(
    '/api/v1/groups',
    { name: 'mutations', memberIds: [admin.id, member.id] },
    owner.token,
  );
  expect(response.status).toBe(201);
  const groupId = response.body.group.id as string;
  await nodes.a.container.deps.db.execute('UPDATE group_members SET role = ? WHERE group_id = ? AND user_id = ?', [
    'admin',
    groupId,
    admin.id,
  ]);
  return { groupId, owner, admin, member, outsider };
}

const messagePath = (message: { conversationId: string; id: string }) =>
  `/api/v1/conversations/${message.conversationId}/messages/${message.id}`;

export const edit = (api: ApiClient, user: TestUser, message: SentMessage, content: unknown) =>
  api.request('PATCH', messagePath(message), { body: { content }, token: user.token });

export const remove = (api: ApiClient, user: TestUser, message: SentMessage) =>
  api.request('DELETE', messagePath(message), { token: user.token });

export const react = (api: ApiClient, user: TestUser, message: SentMessage, emoji: string) =>
  api.request('PUT', `${messagePath(message)}/reactions/${encodeURIComponent(emoji)}`, { token: user.token });

export const unreact = (api: ApiClient, user: TestUser, message: SentMessage, emoji: string) =>
  api.request('DELETE', `${messagePath(message)}/reactions/${encodeURIComponent(emoji)}`, { token: user.token });

export function expectMessage(response: ApiResponse): SentMessage {
  if (response.status !== 200) throw new Error(`expected 200, got ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.message as SentMessage;
}

/** The message as a history read by `user` shows it (newest-first first page, up to 100). */
export async function historyOf(api: ApiClient, user: TestUser, message: { conversationId: string; id: string }) {
  const response = await api.get(`/api/v1/messages?conversationId=${message.conversationId}&limit=100`, user.token);
  expect(response.status).toBe(200);
  return (response.body.messages as SentMessage[]).find((m) => m.id === message.id);
}

export type { TestUser };
export { registerUser };
