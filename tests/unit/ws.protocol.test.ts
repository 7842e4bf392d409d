import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/domain/errors.js';
import { messageChanged, messageCreated, messageStatus, presenceChanged, typing } from '../../src/realtime/events.js';
import { CLOSE_CODES, encodeEvent, errorFrame, parseClientFrame } from '../../src/ws/protocol.js';
import { DM_AB, directMessage, USER_A, USER_B } from '../support/fixtures.js';

const A = USER_A;
const B = USER_B;
const DM = DM_AB;

describe('parseClientFrame', () => {
  it('accepts every documented frame type', () => {
    const frames = [
      { type: 'ack', data: { conversationId: DM, messageId: A } },
      { type: 'read', id: 'r1', data: { conversationId: A, messageId: B } },
      { type: 'typing', data: { conversationId: DM } },
      { type: 'presence.subscribe', data: { userIds: [A, B] } },
      { type: 'presence.unsubscribe', data: { userIds: [A] } },
      { type: 'ping' },
      { type: 'ping', data: { nonce: 1 } },
    ];
    for (const frame of frames) {
      expect(parseClientFrame(JSON.stringify(frame))).toEqual({ ok: true, frame });
    }
  });

  it('answers text that is not JSON with MALFORMED_JSON', () => {
    const parsed = parseClientFrame('{"type":');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error.code).toBe('MALFORMED_JSON');
  });

  it('answers an unknown type with VALIDATION_FAILED on the type field, echoing the frame id', () => {
    const parsed = parseClientFrame(JSON.stringify({ type: 'send', id: 'x1', data: {} }));
    expect(parsed).toMatchObject({ ok: false, id: 'x1', error: { code: 'VALIDATION_FAILED' } });
    if (!parsed.ok) expect(parsed.error.issues).toEqual([{ path: 'type', message: expect.stringContaining('ack') }]);
  });

  it('names each invalid field of a known frame', () => {
    const parsed = parseClientFrame(JSON.stringify({ type: 'ack', data: { conversationId: 'dm_x', messageId: 7 } }));
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.error.code).toBe('VALIDATION_FAILED');
      expect(parsed.error.issues?.map((issue) => issue.path).sort()).toEqual(['data.conversationId', 'data.messageId']);
    }
  });

  it('rejects unknown fields, arrays, and presence lists that are empty or too long', () => {
    const bad = [
      { type: 'typing', data: { conversationId: DM, extra: true } },
      { type: 'ack', data: { conversationId: DM, messageId: A }, extra: 1 },
      { type: 'presence.subscribe', data: { userIds: [] } },
      { type: 'presence.subscribe', data: { userIds: Array.from({ length: 101 }, () => A) } },
      [{ type: 'ping' }],
      'ping',
      null,
    ];
    for (const frame of bad) {
      const parsed = parseClientFrame(JSON.stringify(frame));
      expect(parsed.ok, JSON.stringify(frame)).toBe(false);
      if (!parsed.ok) expect(parsed.error.code).toBe('VALIDATION_FAILED');
    }
  });
});

describe('server frames', () => {
  it('encodes message.created with the REST message shape', () => {
    const message = directMessage();
    expect(JSON.parse(encodeEvent(messageCreated(message)))).toEqual({
      type: 'message.created',
      data: {
        message: {
          ...message,
          createdAt: '2026-01-01T00:00:00.000Z',
          clientTimestamp: null,
          editedAt: null,
          deletedAt: null,
          reactions: [],
          replyToId: null,
          threadId: null,
          thread: null,
        },
      },
    });
  });

  it('encodes message.updated of a thread root with its summary, in the same message shape', () => {
    const root = { ...directMessage(), thread: { replyCount: 2, lastReplyAt: 0, lastReplyId: B } };
    expect(JSON.parse(encodeEvent(messageChanged('message.updated', root)))).toEqual({
      type: 'message.updated',
      data: {
        message: {
          ...root,
          createdAt: '2026-01-01T00:00:00.000Z',
          clientTimestamp: null,
          editedAt: null,
          deletedAt: null,
          reactions: [],
          replyToId: null,
          threadId: null,
          thread: { replyCount: 2, lastReplyAt: '1970-01-01T00:00:00.000Z', lastReplyId: B },
        },
      },
    });
  });

  it('encodes presence with an ISO last-seen time, and null while online', () => {
    expect(JSON.parse(encodeEvent(presenceChanged({ userId: A, status: 'offline', lastSeenAt: 0 })))).toEqual({
      type: 'presence',
      data: { userId: A, status: 'offline', lastSeenAt: '1970-01-01T00:00:00.000Z' },
    });
    expect(
      JSON.parse(encodeEvent(presenceChanged({ userId: A, status: 'online', lastSeenAt: null }))).data.lastSeenAt,
    ).toBeNull();
  });

  it('encodes message.status and typing with exactly the documented fields', () => {
    const receipt = { conversationId: DM, userId: B, deliveredUpTo: A, readUpTo: null };
    expect(JSON.parse(encodeEvent(messageStatus(receipt)))).toEqual({
      type: 'message.status',
      data: receipt,
    });
    expect(JSON.parse(encodeEvent(typing(DM, A)))).toEqual({
      type: 'typing',
      data: { conversationId: DM, userId: A },
    });
  });

  it('encodes errors with code and detail, plus issues and the frame id when there are some', () => {
    expect(JSON.parse(errorFrame(new AppError('FORBIDDEN', 'no'), undefined))).toEqual({
      type: 'error',
      data: { code: 'FORBIDDEN', detail: 'no' },
    });
    const issues = [{ path: 'type', message: 'bad' }];
    expect(JSON.parse(errorFrame(new AppError('VALIDATION_FAILED', 'bad', { issues }), 'f1')).data).toEqual({
      code: 'VALIDATION_FAILED',
      detail: 'bad',
      issues,
      id: 'f1',
    });
  });

  it('keeps application close codes in the reconnectable 4000–4499 range', () => {
    for (const code of Object.values(CLOSE_CODES)) {
      const allowed = code < 4000 ? [1000, 1001, 1008, 1009, 1011].includes(code) : code <= 4499;
      expect(allowed, String(code)).toBe(true);
    }
  });
});
