import { describe, expect, it } from 'vitest';
import { jsonDepth, parseStrictJson, parseStrictJsonBytes } from '../../src/domain/strict-json.js';

const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

describe('strict JSON for untrusted input', () => {
  it('counts nesting outside strings only, and stops counting past the limit', () => {
    expect(jsonDepth('{"a":[1,{"b":2}]}', 32)).toBe(3);
    expect(jsonDepth('{"a":"[[[[{{{{\\"]]]"}', 32)).toBe(1);
    expect(jsonDepth(deep(100_000), 32)).toBe(33);
  });

  it('refuses 5,000 levels of nesting before parsing (no stack overflow anywhere after)', () => {
    expect(parseStrictJson(deep(5000), 32)).toEqual({ ok: false, failure: 'TOO_DEEP' });
    expect(parseStrictJson(`{"x":${deep(32)}}`, 32)).toEqual({ ok: false, failure: 'TOO_DEEP' });
    expect(parseStrictJson(`{"x":${deep(31)}}`, 32).ok).toBe(true);
  });

  it('refuses bytes that are not UTF-8 instead of turning them into U+FFFD', () => {
    expect(parseStrictJsonBytes(Buffer.from([0x22, 0xff, 0x22]))).toEqual({ ok: false, failure: 'NOT_UTF8' });
    expect(parseStrictJsonBytes(Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]))).toEqual({
      ok: false,
      failure: 'NOT_UTF8',
    });
    expect(parseStrictJsonBytes(Buffer.from('"café 😀"'))).toEqual({ ok: true, value: 'café 😀' });
  });

  it('names where a lone surrogate escape is, in values and keys', () => {
    expect(parseStrictJson('{"a":{"list":["ok","\\ud800"]}}')).toEqual({
      ok: false,
      failure: 'NOT_WELL_FORMED',
      path: 'a.list.1',
    });
    expect(parseStrictJson('{"\\udc00":1}')).toMatchObject({ ok: false, failure: 'NOT_WELL_FORMED' });
    expect(parseStrictJson('"\\ud83d\\ude00"')).toEqual({ ok: true, value: '😀' });
  });

  it('tells malformed JSON apart', () => {
    expect(parseStrictJson('{"a":')).toEqual({ ok: false, failure: 'MALFORMED' });
  });
});
