import { describe, expect, it } from 'vitest';
import { ConversationId, isWellFormed, parseInstant, QueryTimestamp, Timestamp, Ulid } from '../../src/http/schemas.js';

describe('parseInstant', () => {
  it('reads epoch milliseconds given as digits', () => {
    expect(parseInstant('0')).toBe(0);
    expect(parseInstant('1700000000000')).toBe(1_700_000_000_000);
  });

  it('reads ISO-8601 dates and date-times with Z or an offset', () => {
    expect(parseInstant('2024-01-01')).toBe(Date.UTC(2024, 0, 1));
    expect(parseInstant('2024-01-01T10:00Z')).toBe(Date.UTC(2024, 0, 1, 10));
    expect(parseInstant('2024-01-01T10:00:00Z')).toBe(Date.UTC(2024, 0, 1, 10));
    expect(parseInstant('2024-01-01T10:00:00.123Z')).toBe(Date.UTC(2024, 0, 1, 10, 0, 0, 123));
    expect(parseInstant('2024-01-01T10:00:00.123456789Z')).toBe(Date.UTC(2024, 0, 1, 10, 0, 0, 123));
    expect(parseInstant('2024-01-01T10:00:00.5z')).toBe(Date.UTC(2024, 0, 1, 10, 0, 0, 500));
    expect(parseInstant('2024-01-01T10:00:00+05:30')).toBe(Date.UTC(2024, 0, 1, 4, 30));
    expect(parseInstant('2024-01-01T10:00:00-0200')).toBe(Date.UTC(2024, 0, 1, 12));
  });

  it('reads a date-time without an offset as UTC, whatever the server time zone', () => {
    expect(parseInstant('2024-06-01T12:34:56')).toBe(Date.UTC(2024, 5, 1, 12, 34, 56));
  });

  it('refuses impossible dates and times instead of rolling them over', () => {
    for (const value of [
      '2024-02-30',
      '2023-02-29T00:00:00Z',
      '2024-13-01',
      '2024-00-10',
      '2024-01-01T24:00:00Z',
      '2024-01-01T10:60:00Z',
      '2024-01-01T10:00:61Z',
      '2024-01-01T10:00:00+24:00',
    ]) {
      expect(parseInstant(value), value).toBeUndefined();
    }
    expect(parseInstant('2024-02-29')).toBe(Date.UTC(2024, 1, 29));
  });

  it('refuses text that is neither, and times before 1970', () => {
    for (const value of ['', 'yesterday', '-5', '1.5', '2024-1-1', '2024/01/01', '1969-12-31T23:59:59Z', 'NaN']) {
      expect(parseInstant(value), value).toBeUndefined();
    }
  });
});

describe('Timestamp (JSON body)', () => {
  it('accepts epoch milliseconds and ISO strings, giving epoch ms', () => {
    expect(Timestamp.parse(1_700_000_000_000)).toBe(1_700_000_000_000);
    expect(Timestamp.parse('2023-11-14T22:13:20.000Z')).toBe(1_700_000_000_000);
    expect(Timestamp.parse('1700000000000')).toBe(1_700_000_000_000);
  });

  it('refuses negative, fractional and malformed values', () => {
    for (const value of [-1, 1.5, 'soon', '', null, true]) {
      expect(Timestamp.safeParse(value).success, String(value)).toBe(false);
    }
  });
});

describe('QueryTimestamp', () => {
  it('accepts both forms as text', () => {
    expect(QueryTimestamp.parse('1700000000000')).toBe(1_700_000_000_000);
    expect(QueryTimestamp.parse('2023-11-14T22:13:20Z')).toBe(1_700_000_000_000);
  });

  it('clamps to the latest time a ULID can hold, so a far-future bound still means "until the end"', () => {
    expect(QueryTimestamp.parse('8640000000000000')).toBe(2 ** 48 - 1);
    expect(QueryTimestamp.parse('9999-12-31T23:59:59Z')).toBe(Date.UTC(9999, 11, 31, 23, 59, 59));
  });

  it('refuses malformed text', () => {
    expect(QueryTimestamp.safeParse('tomorrow').success).toBe(false);
    expect(QueryTimestamp.safeParse('99999999999999999').success).toBe(false);
  });
});

describe('Ulid and ConversationId', () => {
  const A = '01JD3W6YQ7R5S3T2V1X0Z9Y8W7';
  const B = '01JD3W7B1C2D3E4F5G6H7J8K9M';

  it('accept canonical ids only', () => {
    expect(Ulid.safeParse(A).success).toBe(true);
    expect(Ulid.safeParse(A.toLowerCase()).success).toBe(false);
    expect(Ulid.safeParse(`${A} `).success).toBe(false);
    expect(ConversationId.safeParse(A).success).toBe(true);
    expect(ConversationId.safeParse(`dm_${A}_${B}`).success).toBe(true);
    expect(ConversationId.safeParse(`dm_${A}`).success).toBe(false);
    expect(ConversationId.safeParse("1' OR '1'='1").success).toBe(false);
  });
});

describe('isWellFormed', () => {
  it('accepts any text made of whole code points, surrogate pairs included', () => {
    for (const value of ['', 'plain', 'Grüße', '👋🏽', '\u0000', '𝄞 clef'])
      expect(isWellFormed(value), value).toBe(true);
  });

  it('refuses a lone high or low surrogate anywhere', () => {
    for (const value of ['\ud83d', '\ude00', 'a\ud800b', 'end \udbff', '\ude00\ud83d']) {
      expect(isWellFormed(value), JSON.stringify(value)).toBe(false);
    }
  });
});
