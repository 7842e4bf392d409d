/**
 * Strict JSON for untrusted input (request bodies and WebSocket frames). No I/O.
 *
 * Why each rule exists:
 * - Nesting depth is bounded *before* JSON.parse sees the text. A 10 KB frame nested 5,000 deep
 *   parses, but every recursive walk over the value afterwards (JSON.stringify when echoing it,
 *   zod, a logger) overflows the stack; once, that took a whole node down. Counting brackets
 *   outside strings is linear, allocation-free and cannot recurse.
 * - Bytes must be valid UTF-8: decoding invalid bytes "leniently" turns them into U+FFFD, so
 *   the server would store and answer 201 for text the client never sent.
 * - Strings (and keys) must be well-formed UTF-16 after parsing: a JSON escape can spell a lone
 *   surrogate ("\ud800"), which UTF-8 (and so Cassandra) cannot hold; storing it silently changes
 *   it, and a password containing one would match other passwords.
 */

export type StrictJsonFailure = 'NOT_UTF8' | 'TOO_DEEP' | 'MALFORMED' | 'NOT_WELL_FORMED';

export type StrictJsonResult =
  | { ok: true; value: unknown }
  /** `path`: for NOT_WELL_FORMED, where the lone surrogate is (see findLoneSurrogate). */
  | { ok: false; failure: StrictJsonFailure; path?: string };

/** Deepest nesting accepted by default: every valid request and frame nests at most 4 levels. */
export const DEFAULT_MAX_JSON_DEPTH = 32;

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Decodes bytes as UTF-8, or undefined when they are not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return fatalUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * The deepest nesting of arrays and objects in a JSON text, counting brackets outside strings.
 * Stops counting (returns limit + 1) as soon as the limit is passed.
 */
export function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c /* \ */) i++;
      else if (ch === 0x22 /* " */) inString = false;
      continue;
    }
    if (ch === 0x22) inString = true;
    else if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) depth--;
  }
  return deepest;
}

/**
 * Where a parsed JSON value holds a lone surrogate, as a dotted path (`content`, `memberIds.2`;
 * '' for the value itself), or undefined when every string and key is well-formed. Recursive,
 * so only for values whose depth was already bounded.
 */
export function findLoneSurrogate(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return isWellFormedText(value) ? undefined : path;
  const at = (key: string | number) => (path === '' ? String(key) : `${path}.${key}`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findLoneSurrogate(value[i], at(i));
      if (found !== undefined) return found;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (!isWellFormedText(key)) return at(key.replace(LONE_SURROGATES, '\ufffd'));
      const found = findLoneSurrogate(item, at(key));
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** Whether a string has no lone UTF-16 surrogate. */
export const isWellFormedText = (value: string): boolean => !LONE_SURROGATE.test(value);
const LONE_SURROGATE = /\p{Cs}/u;
const LONE_SURROGATES = /\p{Cs}/gu;

/** Parses untrusted JSON text: bounded depth, well-formed strings. */
export function parseStrictJson(text: string, maxDepth = DEFAULT_MAX_JSON_DEPTH): StrictJsonResult {
  if (jsonDepth(text, maxDepth) > maxDepth) return { ok: false, failure: 'TOO_DEEP' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, failure: 'MALFORMED' };
  }
  const path = findLoneSurrogate(value);
  if (path !== undefined) return { ok: false, failure: 'NOT_WELL_FORMED', path };
  return { ok: true, value };
}

/** Parses untrusted JSON bytes: valid UTF-8 first, then as parseStrictJson. */
export function parseStrictJsonBytes(bytes: Uint8Array, maxDepth = DEFAULT_MAX_JSON_DEPTH): StrictJsonResult {
  const text = decodeUtf8(bytes);
  if (text === undefined) return { ok: false, failure: 'NOT_UTF8' };
  return parseStrictJson(text, maxDepth);
}

/** What a client is told for each failure, about `what` ("The body", "The frame"). */
export function strictJsonDetail(failure: StrictJsonFailure, what: string, maxDepth: number): string {
  switch (failure) {
    case 'NOT_UTF8':
      return `${what} is not valid UTF-8`;
    case 'TOO_DEEP':
      return `${what} nests deeper than ${maxDepth} levels`;
    case 'MALFORMED':
      return `${what} is not valid JSON`;
    case 'NOT_WELL_FORMED':
      return `${what} contains a lone UTF-16 surrogate, which is not valid Unicode text`;
  }
}
