import { describe, expect, it } from 'vitest';
import {
  ConversationId,
  INSTANT_PATTERN,
  isWellFormed,
  NOT_ONLY_WHITESPACE_PATTERN,
  parseInstant,
  QueryTimestamp,
  Timestamp,
  trimmedText,
  Ulid,
} from '../../src/http/schemas.js';

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

/** A small seeded generator, so the agreement checks below are the same on every run. */
function prng(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('INSTANT_PATTERN (the document) agrees with parseInstant (the validator)', () => {
  const pattern = new RegExp(INSTANT_PATTERN);

  it('matches exactly the values parseInstant reads, on edge cases', () => {
    for (const value of [
      '0',
      '8640000000000000',
      '8640000000000001',
      '9999999999999999',
      '0000000000000001',
      '12345678901234567',
      '2024-02-29',
      '2023-02-29',
      '2000-02-29',
      '2100-02-29',
      '2024-04-31',
      '2024-12-31T23:59:59.999999999Z',
      '2024-01-01t10:00z',
      '2024-01-01T10:00:00+05:30',
      '2024-01-01T10:00:00-0200',
      '2024-01-01T10:00:00+24:00',
      '2024-01-01T24:00',
      '1969-12-31',
      '1970-01-01',
      '9999-12-31T23:59:59-23:59',
      '',
      ' 2024-01-01',
      '2024-01-01T10',
    ]) {
      expect(pattern.test(value), value).toBe(parseInstant(value) !== undefined);
    }
  });

  it('matches exactly the values parseInstant reads, on many generated near-misses', () => {
    const random = prng(7);
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)] as T;
    const digits = (n: number) => Array.from({ length: n }, () => pick('0123456789'.split(''))).join('');
    for (let i = 0; i < 5000; i++) {
      const year = pick(['1969', '1970', '1999', '2000', '2024', '2100', '2400', '9999', digits(4)]);
      const month = pick(['00', '01', '02', '04', '09', '11', '12', '13', digits(2)]);
      const day = pick(['00', '01', '28', '29', '30', '31', '32', digits(2)]);
      const time = pick(['', `T${digits(2)}:${digits(2)}`, `T${digits(2)}:${digits(2)}:${digits(2)}.${digits(3)}`]);
      const zone = time ? pick(['', 'Z', 'z', `+${digits(2)}:${digits(2)}`, `-${digits(4)}`]) : '';
      const value = random() < 0.1 ? digits(1 + Math.floor(random() * 17)) : `${year}-${month}-${day}${time}${zone}`;
      // The one known gap: an offset that moves 1970-01-01 before the epoch (documented).
      if (value.startsWith('1970-01-01') && /\+/.test(zone)) continue;
      expect(pattern.test(value), value).toBe(parseInstant(value) !== undefined);
    }
  });
});

describe('trimmedText and NOT_ONLY_WHITESPACE_PATTERN', () => {
  const name = trimmedText(5);
  const pattern = new RegExp(NOT_ONLY_WHITESPACE_PATTERN);

  it('refuses what the pattern refuses: empty and whitespace-only text, every kind trim() removes', () => {
    for (const value of ['', ' ', '\t\n\v\f\r', '\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeff']) {
      expect(pattern.test(value), JSON.stringify(value)).toBe(false);
      expect(name.safeParse(value).success, JSON.stringify(value)).toBe(false);
      expect(value.trim()).toBe('');
    }
  });

  it('accepts what the pattern accepts, stored trimmed, counting code points as maxLength does', () => {
    expect(name.parse('  ab ')).toBe('ab');
    expect(name.parse('👋🏽👋🏽')).toBe('👋🏽👋🏽'); // 4 code points, 8 UTF-16 units
    expect(name.safeParse('abcdef').success).toBe(false);
    expect(name.safeParse(' abcd ').success).toBe(false); // 6 characters as sent
    expect(name.safeParse('\u001c').success).toBe(true); // not whitespace to trim(), whatever Python says
    expect(pattern.test('\u001c')).toBe(true);
  });

  it('refuses lone surrogates', () => {
    expect(name.safeParse('a\ud800').success).toBe(false);
  });
});
