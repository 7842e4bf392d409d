import { z } from 'zod';
import { CONVERSATION_ID_PATTERN } from '../domain/conversations.js';
import { AppError, type ErrorCode, type ValidationIssue } from '../domain/errors.js';
import { ULID_PATTERN } from '../domain/ids.js';
import { parseStrictJson, strictJsonDetail } from '../domain/strict-json.js';
import type { ResyncEvent } from '../realtime/events.js';

/**
 * The WebSocket protocol: every frame is a JSON text frame `{ "type": …, "data": … }`. Inbound
 * frames are one discriminated union validated with zod; outbound frames use the same JSON
 * shapes as the REST API (messages are exactly what GET /api/v1/messages returns).
 */

/**
 * Close codes the server uses. 4000–4499: the client should reconnect (with backoff) and catch
 * up; 4500–4999 are reserved for terminal conditions (do not reconnect without user action).
 */
export const CLOSE_CODES = {
  /** Normal closure. */
  NORMAL: 1000,
  /** The node is shutting down: reconnect (to any node) at once and catch up. */
  GOING_AWAY: 1001,
  /** The bearer token expired, or its session ended, while connected: refresh the token, then reconnect. */
  POLICY_VIOLATION: 1008,
  /** A frame was larger than the limit (64 KiB by default). Reconnect; do not resend it. */
  MESSAGE_TOO_BIG: 1009,
  /**
   * The server could not set the connection up (e.g. its subscriptions could not be made while
   * Redis is away; `ready` is never sent then): reconnect with backoff.
   */
  INTERNAL_ERROR: 1011,
  /** The client read too slowly and its send buffer passed the limit: reconnect and catch up. */
  SLOW_CONSUMER: 4000,
  /**
   * The client kept sending frames over its rate limit after being told (error frames with
   * RATE_LIMITED): reconnect after a pause (at least a few seconds, with backoff) and slow down.
   */
  RATE_LIMITED: 4029,
} as const;

/**
 * Deepest nesting a frame may have. Every valid frame nests at most 3 levels; the bound is
 * checked on the text before parsing, so no deep value ever reaches a recursive walk (a ping
 * nested 5,000 deep once overflowed the stack in JSON.stringify and killed the node).
 */
export const MAX_FRAME_DEPTH = 8;
/** A ping's `data` is echoed in the pong: at most this many bytes of JSON, so an echo is always small. */
export const MAX_PING_DATA_BYTES = 1024;

export type CloseCode = (typeof CLOSE_CODES)[keyof typeof CLOSE_CODES];

const Ulid = z.string().regex(ULID_PATTERN, 'must be a ULID');
const ConversationId = z.string().regex(CONVERSATION_ID_PATTERN, 'must be a group id or a dm_<userId>_<userId> id');
/** Optional client-chosen id, echoed on the error frame a failing frame causes. */
const FrameId = z.string().min(1).max(64).optional();
const UserIds = z.array(Ulid).min(1).max(100);

const Watermark = z.object({ conversationId: ConversationId, messageId: Ulid }).strict();

/** Every frame a client may send. */
export const ClientFrameSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ack'), id: FrameId, data: Watermark }).strict(),
  z.object({ type: z.literal('read'), id: FrameId, data: Watermark }).strict(),
  z
    .object({ type: z.literal('typing'), id: FrameId, data: z.object({ conversationId: ConversationId }).strict() })
    .strict(),
  z
    .object({ type: z.literal('presence.subscribe'), id: FrameId, data: z.object({ userIds: UserIds }).strict() })
    .strict(),
  z
    .object({ type: z.literal('presence.unsubscribe'), id: FrameId, data: z.object({ userIds: UserIds }).strict() })
    .strict(),
  z
    .object({
      type: z.literal('ping'),
      id: FrameId,
      data: z
        .unknown()
        .optional()
        .refine(
          (data) => data === undefined || Buffer.byteLength(JSON.stringify(data)) <= MAX_PING_DATA_BYTES,
          `must be at most ${MAX_PING_DATA_BYTES} bytes of JSON`,
        ),
    })
    .strict(),
]);

export type ClientFrame = z.infer<typeof ClientFrameSchema>;

export const CLIENT_FRAME_TYPES: readonly string[] = ClientFrameSchema.options.map((option) => option.shape.type.value);

export type ParsedFrame = { ok: true; frame: ClientFrame } | { ok: false; error: AppError; id: string | undefined };

/** Parses one text frame; failures carry the API error to answer with. */
export function parseClientFrame(text: string): ParsedFrame {
  const strict = parseStrictJson(text, MAX_FRAME_DEPTH);
  if (!strict.ok) {
    const error =
      strict.failure === 'MALFORMED'
        ? new AppError('MALFORMED_JSON', 'The frame is not valid JSON')
        : invalid([
            { path: strict.path ?? '', message: strictJsonDetail(strict.failure, 'the frame', MAX_FRAME_DEPTH) },
          ]);
    return { ok: false, error, id: undefined };
  }
  const raw = strict.value;
  const id =
    typeof raw === 'object' && raw !== null && typeof (raw as { id?: unknown }).id === 'string'
      ? ((raw as { id: string }).id.slice(0, 64) as string)
      : undefined;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, error: invalid([{ path: '', message: 'a frame is an object { type, data }' }]), id };
  }
  const type = (raw as { type?: unknown }).type;
  if (typeof type !== 'string' || !CLIENT_FRAME_TYPES.includes(type)) {
    const message = `must be one of ${CLIENT_FRAME_TYPES.join(', ')}`;
    return {
      ok: false,
      error: new AppError(
        'VALIDATION_FAILED',
        typeof type === 'string' ? `Unknown frame type ${JSON.stringify(type.slice(0, 64))}` : 'The frame has no type',
        { issues: [{ path: 'type', message }] },
      ),
      id,
    };
  }
  const parsed = ClientFrameSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      error: invalid(
        parsed.error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message })),
      ),
      id,
    };
  }
  return { ok: true, frame: parsed.data };
}

const invalid = (issues: ValidationIssue[]) =>
  new AppError('VALIDATION_FAILED', issues.map((issue) => `${issue.path || 'frame'}: ${issue.message}`).join('; '), {
    issues,
  });

/** Every frame the server sends, as JSON text. */
export type ServerFrame =
  | { type: 'ready'; data: { userId: string; connectionId: string; heartbeatMs: number } }
  | {
      type: 'error';
      data: { code: ErrorCode; detail: string; issues?: ValidationIssue[]; id?: string; retryAfterMs?: number };
    }
  | { type: 'pong'; data: unknown }
  /**
   * Once per connection, when everything stored before it got `ready` is below the stable
   * position: catch up now and that catch-up returns it all (src/ws/settled-notices.ts).
   */
  | { type: 'settled'; data: Record<string, never> }
  /**
   * Events may have been missed (see src/ws/README.md, "resync"): catch up from the inbox's
   * `changedSince` and each changed conversation's `after=` cursor. The frame is the real-time
   * event of that name (src/realtime/events.ts), sent as is.
   */
  | ResyncEvent;

export const encodeFrame = (frame: ServerFrame) => JSON.stringify(frame);

/**
 * The frame of a real-time event: the event itself (one vocabulary for the bus and the frames,
 * src/realtime/events.ts), its `data` already in the REST JSON shapes.
 */
export { encodeEvent } from '../realtime/events.js';

/** The error frame for a failure (AppError codes; anything else is INTERNAL without details). */
export function errorFrame(error: AppError, id: string | undefined, extra: { retryAfterMs?: number } = {}): string {
  return encodeFrame({
    type: 'error',
    data: {
      code: error.code,
      detail: error.message,
      ...(error.issues ? { issues: error.issues } : {}),
      ...(id === undefined ? {} : { id }),
      ...(extra.retryAfterMs === undefined ? {} : { retryAfterMs: extra.retryAfterMs }),
    },
  });
}
