import { describe, expect, it } from 'vitest';
import { CONVERSATION_ID_PATTERN, directConversationId, parseConversationId } from '../../src/domain/conversations.js';

const A = '01JD3W6YQ7R5S3T2V1X0Z9Y8W7';
const B = '01JD3W7B1C2D3E4F5G6H7J8K9M';

describe('directConversationId', () => {
  it('is the same whichever user computes it, smaller id first', () => {
    expect(directConversationId(A, B)).toBe(`dm_${A}_${B}`);
    expect(directConversationId(B, A)).toBe(`dm_${A}_${B}`);
  });
});

describe('parseConversationId', () => {
  it('reads both participants off a one-to-one id', () => {
    expect(parseConversationId(`dm_${A}_${B}`)).toEqual({ kind: 'direct', id: `dm_${A}_${B}`, userIds: [A, B] });
  });

  it('treats a bare ULID as a group conversation', () => {
    expect(parseConversationId(A)).toEqual({ kind: 'group', id: A, groupId: A });
  });

  it('rejects one-to-one ids this service could not have made', () => {
    expect(parseConversationId(`dm_${B}_${A}`)).toBeUndefined(); // not in order
    expect(parseConversationId(`dm_${A}_${A}`)).toBeUndefined(); // with oneself
    expect(parseConversationId(`dm_${A}`)).toBeUndefined();
    expect(parseConversationId(`dm_${A}_${B}_${B}`)).toBeUndefined();
    expect(parseConversationId(`dm_${A}_not-a-ulid`)).toBeUndefined();
    expect(parseConversationId('dm__')).toBeUndefined();
  });

  it('rejects anything else', () => {
    expect(parseConversationId('')).toBeUndefined();
    expect(parseConversationId('general')).toBeUndefined();
    expect(parseConversationId(A.toLowerCase())).toBeUndefined();
  });
});

describe('CONVERSATION_ID_PATTERN', () => {
  it('matches group ids and one-to-one ids and nothing around them', () => {
    expect(CONVERSATION_ID_PATTERN.test(A)).toBe(true);
    expect(CONVERSATION_ID_PATTERN.test(`dm_${A}_${B}`)).toBe(true);
    expect(CONVERSATION_ID_PATTERN.test(`x${A}`)).toBe(false);
    expect(CONVERSATION_ID_PATTERN.test(`dm_${A}_${B}x`)).toBe(false);
    expect(CONVERSATION_ID_PATTERN.test(`dm_${A}`)).toBe(false);
  });
});
