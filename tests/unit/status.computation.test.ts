import { describe, expect, it } from 'vitest';
import { messageStatus, watermarkMove } from '../../src/domain/status.js';
import type { Receipt, StoredMessage } from '../../src/domain/types.js';

const SENDER = '01JD3W6YQ7R5S3T2V1X0Z9Y8W1';
const BOB = '01JD3W6YQ7R5S3T2V1X0Z9Y8W2';
const CAROL = '01JD3W6YQ7R5S3T2V1X0Z9Y8W3';
const OLDER = '01JD3W6YQ7R5S3T2V1X0Z9Y8A0';
const MESSAGE = '01JD3W6YQ7R5S3T2V1X0Z9Y8B0';
const NEWER = '01JD3W6YQ7R5S3T2V1X0Z9Y8C0';

const message: StoredMessage = {
  id: MESSAGE,
  conversationId: 'c',
  senderId: SENDER,
  receiverId: null,
  groupId: 'c',
  content: 'hi',
  createdAt: 0,
  clientTimestamp: null,
};

const receipt = (userId: string, deliveredUpTo: string | null, readUpTo: string | null): Receipt => ({
  conversationId: 'c',
  userId,
  deliveredUpTo,
  readUpTo,
});

const byUser = (...receipts: Receipt[]) => new Map(receipts.map((r) => [r.userId, r]));

describe('messageStatus', () => {
  it('is sent while the other participant has no receipt', () => {
    expect(messageStatus(message, [SENDER, BOB], byUser())).toBe('sent');
  });

  it('is sent while the watermark is before the message', () => {
    expect(messageStatus(message, [SENDER, BOB], byUser(receipt(BOB, OLDER, OLDER)))).toBe('sent');
  });

  it('is delivered when the delivered watermark reaches the message exactly', () => {
    expect(messageStatus(message, [SENDER, BOB], byUser(receipt(BOB, MESSAGE, null)))).toBe('delivered');
  });

  it('is read when the read watermark reaches or passes the message', () => {
    expect(messageStatus(message, [SENDER, BOB], byUser(receipt(BOB, MESSAGE, MESSAGE)))).toBe('read');
    expect(messageStatus(message, [SENDER, BOB], byUser(receipt(BOB, NEWER, NEWER)))).toBe('read');
  });

  it('counts a read watermark as delivered even when the delivered one lags', () => {
    expect(messageStatus(message, [SENDER, BOB], byUser(receipt(BOB, OLDER, NEWER)))).toBe('read');
  });

  it("ignores the sender's own watermarks", () => {
    const receipts = byUser(receipt(SENDER, NEWER, NEWER));
    expect(messageStatus(message, [SENDER, BOB], receipts)).toBe('sent');
  });

  it('is read in a group only when every other member has read it', () => {
    const participants = [SENDER, BOB, CAROL];
    expect(messageStatus(message, participants, byUser(receipt(BOB, NEWER, NEWER)))).toBe('sent');
    expect(
      messageStatus(message, participants, byUser(receipt(BOB, NEWER, NEWER), receipt(CAROL, MESSAGE, null))),
    ).toBe('delivered');
    expect(
      messageStatus(message, participants, byUser(receipt(BOB, NEWER, NEWER), receipt(CAROL, MESSAGE, OLDER))),
    ).toBe('delivered');
    expect(
      messageStatus(message, participants, byUser(receipt(BOB, NEWER, NEWER), receipt(CAROL, MESSAGE, MESSAGE))),
    ).toBe('read');
  });

  it('stays sent when nobody but the sender is left in the conversation', () => {
    expect(messageStatus(message, [SENDER], byUser())).toBe('sent');
  });
});

describe('watermarkMove', () => {
  const receipt = (deliveredUpTo: string | null, readUpTo: string | null): Receipt => ({
    conversationId: 'c',
    userId: BOB,
    deliveredUpTo,
    readUpTo,
  });
  const EVEN_NEWER = '01JD3W6YQ7R5S3T2V1X0Z9Y8D0';

  it('is undefined when neither watermark moved (an ack of an older message changes no status)', () => {
    expect(watermarkMove(receipt(NEWER, MESSAGE), receipt(NEWER, MESSAGE))).toBeUndefined();
  });

  it('covers every message up to the new watermark for a first receipt', () => {
    const move = watermarkMove(undefined, receipt(MESSAGE, null));
    expect(move).toMatchObject({ low: null, high: MESSAGE });
    expect([OLDER, MESSAGE, NEWER].map((id) => move?.covers(id))).toEqual([true, true, false]);
  });

  it('covers exactly the delivered and the read ranges that moved, not the gap between them', () => {
    // Delivered moves NEWER → EVEN_NEWER, read moves null → OLDER: MESSAGE (delivered, unread) is untouched.
    const move = watermarkMove(receipt(NEWER, null), receipt(EVEN_NEWER, OLDER));
    expect(move).toMatchObject({ low: null, high: EVEN_NEWER });
    expect([OLDER, MESSAGE, NEWER, EVEN_NEWER].map((id) => move?.covers(id))).toEqual([true, false, false, true]);
  });
});
