import { isUlid } from './ids.js';

/**
 * The opaque catch-up cursor of issue #13: "the client holds every message below `below`".
 * It is base64url JSON with a version, so the server can change what it encodes without clients
 * ever parsing it; clients store it and hand it back in `after=`. Decoding is strict (exact keys,
 * version 1, a ULID position): a cursor that was edited or truncated is refused rather than read
 * as "from the start", which would replay a whole history, or as a later position, which would
 * skip messages.
 */
export interface SyncCursor {
  below: string;
}

const CURSOR_PATTERN = /^[A-Za-z0-9_-]{16,200}$/;

export function encodeCursor(cursor: SyncCursor): string {
  return Buffer.from(JSON.stringify({ v: 1, below: cursor.below })).toString('base64url');
}

/** The cursor, or undefined when `text` is not one this server issued. */
export function decodeCursor(text: string): SyncCursor | undefined {
  if (!CURSOR_PATTERN.test(text)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const keys = Object.keys(value).sort();
  if (keys.length !== 2 || keys[0] !== 'below' || keys[1] !== 'v') return undefined;
  const { v, below } = value as { v: unknown; below: unknown };
  if (v !== 1 || typeof below !== 'string' || !isUlid(below)) return undefined;
  // Re-encoding must give the same text: no padding, no alternative spellings of one cursor.
  if (encodeCursor({ below }) !== text) return undefined;
  return { below };
}

/**
 * The stable position from every node's reported position: the smallest, never lower than
 * `previous` (what this node answered before). Undefined positions (no row yet) are skipped.
 */
export function stablePosition(positions: readonly string[], previous: string): string {
  let low: string | undefined;
  for (const position of positions) if (low === undefined || position < low) low = position;
  if (low === undefined || low < previous) return previous;
  return low;
}
