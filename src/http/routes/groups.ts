import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { GroupService } from '../../services/groups.js';
import type { AppEnv } from '../context.js';
import {
  bearer,
  GroupSchema,
  json,
  jsonBodyOf,
  MemberSchema,
  noContent,
  problems,
  toGroupJson,
  toMemberJson,
  trimmedText,
  Ulid,
} from '../schemas.js';
import { hookOptions } from '../validation.js';

const GroupResult = z.object({ group: GroupSchema });
const GroupParams = z.object({ groupId: Ulid });
const MemberParams = z.object({ groupId: Ulid, userId: Ulid });

/** Group routes: all need a signed-in caller; membership rules live in the group service. */
export function groupRoutes(deps: { groups: GroupService; auth: MiddlewareHandler<AppEnv>; maxMembers: number }) {
  const common = { tags: ['groups'], security: bearer, middleware: deps.auth };
  const CreateBody = z
    .object({
      name: trimmedText(100),
      // The owner is one of the group's maxMembers, so at most maxMembers - 1 ids: a longer list
      // could only fit if it named the caller, and the document could not say that.
      memberIds: z
        .array(Ulid)
        .max(deps.maxMembers - 1)
        .refine((ids) => new Set(ids).size === ids.length, 'must not repeat a user id')
        .optional()
        .openapi({
          uniqueItems: true,
          description: `Distinct user ids to add as members (listing the caller is allowed and ignored); the group holds at most ${deps.maxMembers} members including the owner`,
        }),
    })
    .strict()
    .openapi('CreateGroupRequest');

  const create = createRoute({
    ...common,
    method: 'post',
    path: '/groups',
    summary: 'Create a group; the caller becomes its owner',
    request: { body: jsonBodyOf(CreateBody) },
    responses: { 201: json(GroupResult, 'The new group'), ...problems(401, 404, 413, 415) },
  });
  const listMine = createRoute({
    ...common,
    method: 'get',
    path: '/groups',
    summary: 'The groups the caller belongs to',
    responses: { 200: json(z.object({ groups: z.array(GroupSchema) }), 'Groups'), ...problems(401) },
  });
  const get = createRoute({
    ...common,
    method: 'get',
    path: '/groups/{groupId}',
    summary: 'A group (members only)',
    request: { params: GroupParams },
    responses: { 200: json(GroupResult, 'The group'), ...problems(401, 403, 404) },
  });
  const members = createRoute({
    ...common,
    method: 'get',
    path: '/groups/{groupId}/members',
    summary: "A group's members (members only)",
    request: { params: GroupParams },
    responses: {
      200: json(z.object({ members: z.array(MemberSchema) }), 'Members'),
      ...problems(401, 403, 404),
    },
  });
  const addMember = createRoute({
    ...common,
    method: 'post',
    path: '/groups/{groupId}/members',
    summary: 'Add a member (owner only)',
    request: { params: GroupParams, body: jsonBodyOf(z.object({ userId: Ulid }).strict().openapi('AddMemberRequest')) },
    responses: {
      201: json(z.object({ member: MemberSchema }), 'The new member'),
      ...problems(401, 403, 404, 409, 413, 415),
    },
  });
  const removeMember = createRoute({
    ...common,
    method: 'delete',
    path: '/groups/{groupId}/members/{userId}',
    summary: 'Remove a member (owner) or leave (member)',
    request: { params: MemberParams },
    responses: { 204: noContent('Removed'), ...problems(401, 403, 404, 409) },
  });

  return new OpenAPIHono<AppEnv>(hookOptions)
    .openapi(create, async (c) => {
      const group = await deps.groups.create(c.get('userId'), c.req.valid('json'));
      return c.json({ group: toGroupJson(group) }, 201);
    })
    .openapi(listMine, async (c) => {
      const groups = await deps.groups.listForUser(c.get('userId'));
      return c.json({ groups: groups.map(toGroupJson) }, 200);
    })
    .openapi(get, async (c) => {
      const group = await deps.groups.get(c.get('userId'), c.req.valid('param').groupId);
      return c.json({ group: toGroupJson(group) }, 200);
    })
    .openapi(members, async (c) => {
      const list = await deps.groups.listMembers(c.get('userId'), c.req.valid('param').groupId);
      return c.json({ members: list.map(toMemberJson) }, 200);
    })
    .openapi(addMember, async (c) => {
      const { groupId } = c.req.valid('param');
      const member = await deps.groups.addMember(c.get('userId'), groupId, c.req.valid('json').userId);
      return c.json({ member: toMemberJson(member) }, 201);
    })
    .openapi(removeMember, async (c) => {
      const { groupId, userId } = c.req.valid('param');
      await deps.groups.removeMember(c.get('userId'), groupId, userId);
      return c.body(null, 204);
    });
}
