import { expect } from 'vitest';
import type { ApiClient, ApiResponse, TestUser } from './api.js';
import type { TestSocket } from './ws-client.js';

/** Scenario helpers for the group roles, settings and blocks suites. */

/** Creates a group owned by `owner` with `members`; returns its id. */
export async function createGroup(api: ApiClient, owner: TestUser, members: TestUser[], name = 'crew') {
  const response = await api.post('/api/v1/groups', { name, memberIds: members.map((m) => m.id) }, owner.token);
  expect(response.status).toBe(201);
  return response.body.group.id as string;
}

export const patchGroup = (api: ApiClient, groupId: string, body: unknown, caller: TestUser) =>
  api.request('PATCH', `/api/v1/groups/${groupId}`, { body, token: caller.token });

export const setRole = (api: ApiClient, groupId: string, userId: string, role: unknown, caller: TestUser) =>
  api.request('PATCH', `/api/v1/groups/${groupId}/members/${userId}`, { body: { role }, token: caller.token });

export const addMember = (api: ApiClient, groupId: string, userId: string, caller: TestUser) =>
  api.post(`/api/v1/groups/${groupId}/members`, { userId }, caller.token);

export const removeMember = (api: ApiClient, groupId: string, userId: string, caller: TestUser) =>
  api.delete(`/api/v1/groups/${groupId}/members/${userId}`, caller.token);

/** userId → role, as the member list says. */
export async function rolesOf(api: ApiClient, groupId: string, caller: TestUser): Promise<Record<string, string>> {
  const response = await api.get(`/api/v1/groups/${groupId}/members`, caller.token);
  expect(response.status).toBe(200);
  return Object.fromEntries(
    (response.body.members as Array<{ userId: string; role: string }>).map((m) => [m.userId, m.role]),
  );
}

/** Makes `user` an admin of the group (by its owner). */
export async function promote(api: ApiClient, groupId: string, user: TestUser, owner: TestUser) {
  const response = await setRole(api, groupId, user.id, 'admin', owner);
  expect(response.status).toBe(200);
}

export const expectStatus = (response: ApiResponse, status: number) => {
  if (response.status !== status) {
    throw new Error(`expected ${status}, got ${response.status} ${JSON.stringify(response.body)}`);
  }
};

/**
 * Proves a socket did not get a frame: after `marker` (a later event the socket does get, in
 * publish order on a channel it holds) arrives, no earlier frame matched. Redis delivers one
 * subscriber's messages in publish order, so a wrongly routed event would have come first.
 */
export async function expectNoFrame(
  socket: TestSocket,
  type: string,
  matches: (data: any) => boolean,
  marker: () => Promise<{ type: string; matches: (data: any) => boolean }>,
) {
  const next = await marker();
  await socket.waitFor(next.type, next.matches);
  expect(socket.ofType(type).filter((frame) => matches(frame.data))).toEqual([]);
}
