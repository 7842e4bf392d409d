import { z } from 'zod';
import { ERROR_CODES } from './domain/errors.js';
import { PresenceSchema } from './http/routes/presence.js';
import { GroupSchema, MemberSchema, MessageSchema, ReceiptSchema } from './http/schemas.js';
import type { ClientEvent } from './realtime/events.js';
import {
  CLIENT_FRAME_TYPES,
  type ClientFrame,
  ClientFrameSchema,
  MAX_PING_DATA_BYTES,
  type ServerFrame,
} from './ws/protocol.js';

/**
 * The WebSocket protocol as an AsyncAPI 3.0 document (GET /api/v1/asyncapi.json), generated from
 * zod schemas: the client frames' are the very schemas the gateway validates with
 * (ws/protocol.ts); the server frames' are written here, over the REST API's own schemas for the
 * data they carry. src/ws/README.md stays the guide (when each frame is sent, the client loop).
 * It sits beside the composition root because it reads both edges (ws/ frames, http/ schemas),
 * which must not import each other; container.ts hands the built document to the HTTP app.
 *
 * Why a record keyed by the frame types: a frame or event type added to the code without a schema
 * here fails the type-check (and tests/integration/asyncapi.frames.test.ts checks real frames
 * against these schemas), so the document cannot silently fall behind the protocol.
 */

type ServerFrameType = ServerFrame['type'] | ClientEvent['type'];

const Id = z.string().min(1).max(64).describe('The `id` of the client frame this answers, when it had one');
const Issue = z.object({ path: z.string(), message: z.string() });

const frame = <T extends string, D extends z.ZodType>(type: T, data: D) =>
  z.object({ type: z.literal(type), data }).strict();

/** Every frame the server sends, with what it means. */
const SERVER_FRAMES: Record<ServerFrameType, { summary: string; schema: z.ZodType }> = {
  ready: {
    summary:
      'First frame of a connection, once its subscriptions hold: from here on events reach you live, or you get a resync.',
    schema: frame('ready', z.object({ userId: z.string(), connectionId: z.string(), heartbeatMs: z.number().int() })),
  },
  error: {
    summary: 'A frame you sent was refused (same codes as the REST problem+json errors); nothing changed.',
    schema: frame(
      'error',
      z.object({
        code: z.enum(ERROR_CODES),
        detail: z.string(),
        issues: z.array(Issue).optional(),
        id: Id.optional(),
        retryAfterMs: z.number().int().optional(),
      }),
    ),
  },
  pong: {
    summary: `The answer to a ping, echoing its data (at most ${MAX_PING_DATA_BYTES} bytes of JSON).`,
    schema: z.object({ type: z.literal('pong'), data: z.unknown().optional() }).strict(),
  },
  resync: {
    summary:
      'You may have missed events: catch up from the inbox (changedSince) and each changed conversation’s after=<cursor>. `reason` is for logs only.',
    schema: frame('resync', z.object({ reason: z.string() })),
  },
  settled: {
    summary:
      'Once per connection: everything stored before your `ready` is now below the stable position, so catch up (as on resync) and that catch-up returns it all.',
    schema: frame('settled', z.object({}).strict()),
  },
  'message.created': {
    summary: 'A message was stored in a conversation you take part in (the same JSON as GET /api/v1/messages).',
    schema: frame('message.created', z.object({ message: MessageSchema })),
  },
  'message.updated': {
    summary: 'A message you already have changed (an edit, or a thread root’s summary): replace your copy by id.',
    schema: frame('message.updated', z.object({ message: MessageSchema })),
  },
  'message.deleted': {
    summary:
      'A message was deleted for everyone: the tombstone (deletedAt set, content null, reactions empty). Final for that id.',
    schema: frame('message.deleted', z.object({ message: MessageSchema })),
  },
  'reaction.updated': {
    summary: 'userId gave (added) or took back an emoji on a message; count is how many give it now.',
    schema: frame(
      'reaction.updated',
      z.object({
        conversationId: z.string(),
        messageId: z.string(),
        threadId: z.string().nullable(),
        emoji: z.string(),
        count: z.number().int().min(0),
        userId: z.string(),
        added: z.boolean(),
      }),
    ),
  },
  'group.updated': {
    summary: 'A group you belong to was renamed or its description changed.',
    schema: frame('group.updated', z.object({ group: GroupSchema })),
  },
  'member.added': {
    summary: 'Someone joined a group you belong to (or you were added: then its events follow).',
    schema: frame('member.added', z.object({ groupId: z.string(), member: MemberSchema })),
  },
  'member.removed': {
    summary: 'Someone left or was removed from a group you belong to (or you were: its events stop).',
    schema: frame('member.removed', z.object({ groupId: z.string(), member: MemberSchema })),
  },
  'member.updated': {
    summary: 'A member’s role changed (an ownership transfer sends two: the new owner and the old one, now admin).',
    schema: frame('member.updated', z.object({ groupId: z.string(), member: MemberSchema })),
  },
  'message.status': {
    summary:
      'A participant’s delivered / read watermark moved: everything up to these ids is delivered to / read by userId.',
    schema: frame('message.status', ReceiptSchema),
  },
  presence: {
    summary: 'A user you subscribed to (presence.subscribe) went online or offline.',
    schema: frame('presence', PresenceSchema),
  },
  typing: {
    summary: 'A participant is typing in a conversation (at most one per user and conversation per second).',
    schema: frame('typing', z.object({ conversationId: z.string(), userId: z.string() })),
  },
};

const CLIENT_SUMMARIES: Record<ClientFrame['type'], string> = {
  ack: 'Moves your delivered watermark to messageId (never backwards).',
  read: 'Moves your read watermark (and delivered with it) to messageId.',
  typing: 'Tells the other participants you are typing.',
  'presence.subscribe': 'Starts presence frames for these users (who may see whom: PRESENCE_VISIBILITY).',
  'presence.unsubscribe': 'Stops presence frames for these users.',
  ping: 'Asks for a pong echoing data: an application-level liveness check.',
};

/** The schema of one client frame type: its member of the union the gateway validates with. */
function clientFrameSchema(type: string): z.ZodType {
  const option = ClientFrameSchema.options.find((candidate) => candidate.shape.type.value === type);
  if (!option) throw new Error(`no schema for client frame ${type}`);
  return option;
}

/** JSON Schema (draft 7, which AsyncAPI's default schema format extends) of a zod schema. */
const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: 'draft-7', io, unrepresentable: 'any' });
  return rest;
};

/** Component names: AsyncAPI allows dots, but readers link better without them. */
const componentName = (direction: 'client' | 'server', type: string) => `${direction}.${type}`.replace(/\./g, '_');

export const SERVER_FRAME_TYPES = Object.keys(SERVER_FRAMES) as ServerFrameType[];

/** The schema a server frame of `type` must satisfy (tests check real frames with it). */
export const serverFrameSchema = (type: ServerFrameType): z.ZodType => SERVER_FRAMES[type].schema;

export function buildAsyncApiDocument() {
  const messages: Record<string, unknown> = {};
  const refs = (direction: 'client' | 'server', types: readonly string[]) =>
    types.map((type) => ({ $ref: `#/channels/gateway/messages/${componentName(direction, type)}` }));
  for (const type of CLIENT_FRAME_TYPES) {
    messages[componentName('client', type)] = {
      name: type,
      title: `${type} (client → server)`,
      summary: CLIENT_SUMMARIES[type as ClientFrame['type']],
      payload: jsonSchema(clientFrameSchema(type), 'input'),
    };
  }
  for (const type of SERVER_FRAME_TYPES) {
    messages[componentName('server', type)] = {
      name: type,
      title: `${type} (server → client)`,
      summary: SERVER_FRAMES[type].summary,
      payload: jsonSchema(SERVER_FRAMES[type].schema, 'output'),
    };
  }
  const channelMessages = Object.fromEntries(
    Object.keys(messages).map((name) => [name, { $ref: `#/components/messages/${name}` }]),
  );
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Switchboard WebSocket gateway',
      version: '1.0.0',
      description:
        'Every frame is a JSON text frame `{ "type", "data" }` (client frames may carry an `id`, echoed on the error ' +
        'it causes). Connect with the REST bearer token as `?token=`. Close codes, the order of frames and the ' +
        'client sync loop (ready, resync, catch-up through cursors): src/ws/README.md.',
    },
    defaultContentType: 'application/json',
    servers: {
      local: {
        host: '127.0.0.1:3000',
        protocol: 'ws',
        pathname: '/ws',
        description: 'A node, or the balancer in front of the nodes (npm run up).',
        security: [{ $ref: '#/components/securitySchemes/token' }],
      },
    },
    channels: {
      gateway: {
        address: '/ws',
        title: 'One connection per device',
        messages: channelMessages,
      },
    },
    operations: {
      receiveClientFrames: {
        action: 'receive',
        title: 'Frames a client sends',
        channel: { $ref: '#/channels/gateway' },
        messages: refs('client', CLIENT_FRAME_TYPES),
      },
      sendServerFrames: {
        action: 'send',
        title: 'Frames the server sends',
        channel: { $ref: '#/channels/gateway' },
        messages: refs('server', SERVER_FRAME_TYPES),
      },
    },
    components: {
      messages,
      securitySchemes: {
        token: {
          type: 'httpApiKey',
          name: 'token',
          in: 'query',
          description: 'The access token of POST /api/v1/auth/token (or /auth/refresh).',
        },
      },
    },
  };
}
