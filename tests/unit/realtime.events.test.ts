import { describe, expect, it } from 'vitest';
import {
  blocked,
  decodeEnvelope,
  groupUpdated,
  memberEvent,
  messageCreated,
  messageStatus,
  presenceChanged,
  sessionEnded,
} from '../../src/realtime/events.js';
import { DM_AB, directMessage, USER_A, USER_B } from '../support/fixtures.js';

const A = USER_A;
const B = USER_B;
const DM = DM_AB;
const message = directMessage();

describe('bus envelopes', () => {
  it('reads back exactly the event a node published', () => {
    const event = messageCreated(message);
    expect(decodeEnvelope(JSON.stringify({ node: 'n1', event }))).toEqual({ node: 'n1', event });
  });

  it('reads the previous release’s events as the same events (a rolling deploy loses no message)', () => {
    const receipt = { conversationId: DM, userId: B, deliveredUpTo: A, readUpTo: null };
    const presence = { userId: B, status: 'offline' as const, lastSeenAt: 0 };
    expect(decodeEnvelope(JSON.stringify({ node: 'old', event: { kind: 'message', message } }))?.event).toEqual(
      messageCreated(message),
    );
    expect(decodeEnvelope(JSON.stringify({ node: 'old', event: { kind: 'receipt', receipt } }))?.event).toEqual(
      messageStatus(receipt),
    );
    expect(decodeEnvelope(JSON.stringify({ node: 'old', event: { kind: 'presence', presence } }))?.event).toEqual(
      presenceChanged(presence),
    );
  });

  it('reads back group, member and block events, and ignores one missing the user it is about', () => {
    const group = { id: A, name: 'g', description: null, ownerId: B, createdAt: 0, memberCount: 2 };
    const member = { groupId: A, userId: B, role: 'admin' as const, joinedAt: 0 };
    for (const event of [groupUpdated(group), memberEvent('member.updated', member), blocked(A, B)]) {
      expect(decodeEnvelope(JSON.stringify({ node: 'n1', event }))).toEqual({ node: 'n1', event });
    }
    const noUser = { type: 'member.removed', data: { groupId: A, member: { role: 'member' } } };
    expect(decodeEnvelope(JSON.stringify({ node: 'n1', event: noUser }))).toBeUndefined();
    expect(
      decodeEnvelope(JSON.stringify({ node: 'n1', event: { type: 'block', data: { blockerId: A } } })),
    ).toBeUndefined();
  });

  it('reads back a session notice for one session or all of them, and ignores one without its user', () => {
    for (const event of [sessionEnded(A, B), sessionEnded(A, null)]) {
      expect(decodeEnvelope(JSON.stringify({ node: 'n1', event }))).toEqual({ node: 'n1', event });
    }
    for (const data of [{ sessionId: B }, { userId: A }, { userId: A, sessionId: 7 }]) {
      expect(decodeEnvelope(JSON.stringify({ node: 'n1', event: { type: 'session.ended', data } }))).toBeUndefined();
    }
  });

  it('ignores what it cannot fully read instead of half-reading it', () => {
    for (const raw of [
      'not json',
      JSON.stringify({ event: messageCreated(message) }),
      JSON.stringify({ node: 'n1', event: { type: 'message.created', data: {} } }),
      JSON.stringify({ node: 'n1', event: { type: 'membership', data: { groupId: A, change: 'left', at: 1 } } }),
      JSON.stringify({ node: 'n1', event: { type: 'unknown', data: {} } }),
      JSON.stringify({ node: 'old', event: { kind: 'membership', groupId: A, change: 'left' } }),
    ]) {
      expect(decodeEnvelope(raw)).toBeUndefined();
    }
  });
});
