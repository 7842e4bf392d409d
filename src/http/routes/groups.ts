import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { GroupService } from '../../services/groups.js';
import type { AppEnv } from '../context.js';
import {
  bearer,
  GroupSchema,
  json,
  jsonBodyOf,
  MemberRoleSchema,
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
const MemberResult = z.object({ member: MemberSchema });

/** The longest group description, in code points. */
export const MAX_DESCRIPTION = 500;

const UpdateGroupBody = z
  .object({
    name: trimmedText(100).optional(),
    description: trimmedText(MAX_DESCRIPTION)
      .nullable()
      .optional()
      .openapi({ description: `1–${MAX_DESCRIPTION} characters, or null to clear it` }),
  })
  .strict()
  .refine((body) => body.name !== undefined || body.description !== undefined, {
    message: 'give name, description or both',
  })
  .openapi('UpdateGroupRequest', { minProperties: 1 });

const UpdateMemberBody = z.object({ role: MemberRoleSchema }).strict().openapi('UpdateMemberRequest');

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
    summary: 'Add a member (owner or admin)',
    request: { params: GroupParams, body: jsonBodyOf(z.object({ userId: Ulid }).strict().openapi('AddMemberRequest')) },
    responses: {
      201: json(MemberResult, 'The new member'),
      ...problems(401, 403, 404, 409, 413, 415),
    },
  });
  const removeMember = createRoute({
    ...common,
    method: 'delete',
    path: '/groups/{groupId}/members/{userId}',
    summary: 'Remove a member (owner: anyone; admin: members) or leave (anyone but the owner)',
    request: { params: MemberParams },
    responses: { 204: noContent('Removed'), ...problems(401, 403, 404, 409) },
  });
  const update = createRoute({
    ...common,
    method: 'patch',
    path: '/groups/{groupId}',
    summary: 'Rename or describe a group (owner or admin)',
    description: 'Event `group.updated` to every member.',
    request: { params: GroupParams, body: jsonBodyOf(UpdateGroupBody) },
    responses: { 200: json(GroupResult, 'The group as it now stands'), ...problems(401, 403, 404, 413, 415) },
  });
  const updateMember = createRoute({
    ...common,
    method: 'patch',
    path: '/groups/{groupId}/members/{userId}',
    summary: "Change a member's role (owner only); role owner transfers ownership",
    description:
      'Making another member `owner` transfers ownership: the caller becomes `admin`. The owner cannot give themselves another role (409): they transfer instead. The same role again is a no-op. Event `member.updated` for each member whose role changed, and `group.updated` after a transfer.',
    request: { params: MemberParams, body: jsonBodyOf(UpdateMemberBody) },
    responses: { 200: json(MemberResult, 'The member as it now stands'), ...problems(401, 403, 404, 409, 413, 415) },
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
    .openapi(update, async (c) => {
      const group = await deps.groups.updateSettings(
        c.get('userId'),
        c.req.valid('param').groupId,
        c.req.valid('json'),
      );
      return c.json({ group: toGroupJson(group) }, 200);
    })
    .openapi(updateMember, async (c) => {
      const { groupId, userId } = c.req.valid('param');
      const member = await deps.groups.updateRole(c.get('userId'), groupId, userId, c.req.valid('json').role);
      return c.json({ member: toMemberJson(member) }, 200);
    })
    .openapi(removeMember, async (c) => {
      const { groupId, userId } = c.req.valid('param');
      await deps.groups.removeMember(c.get('userId'), groupId, userId);
      return c.body(null, 204);
    });
}
