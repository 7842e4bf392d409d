import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/domain/types.js';
import { decodeEnvelope, messageCreated, messageStatus, presenceChanged } from '../../src/realtime/events.js';

const A = '01JD3W6YQ7R5S3T2V1X0Z9Y8W7';
const B = '01JD3W7B1C2D3E4F5G6H7J8K9M';
const DM = `dm_${A}_${B}`;
const message: Message = {
  id: A,
  conversationId: DM,
  senderId: A,
  receiverId: B,
  groupId: null,
  content: 'hi',
  createdAt: Date.UTC(2026, 0, 1),
  clientTimestamp: null,
  status: 'sent',
};

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
