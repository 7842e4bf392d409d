import { describe, expect, it } from 'vitest';
import { createBackoff } from '../../src/client/backoff.js';
import { localStorageCursorStore } from '../../src/client/cursor-store.js';
import { parseFrame } from '../../src/client/frames.js';
import { createSeenMessages } from '../../src/client/seen-messages.js';
import { fillPath, queryString } from '../../src/client/transport.js';
import { messageJson } from '../support/fixtures.js';

describe('the SDK loop parts', () => {
  it('backs off exponentially from 500 ms to 30 s with up to half a step of jitter, and starts over after reset', () => {
    const low = createBackoff({}, () => 0);
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(() => low.next())).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    low.reset();
    expect(low.next()).toBe(500);
    const high = createBackoff({}, () => 0.999);
    expect(high.next()).toBeCloseTo(749.75, 2);
  });

  it('hands each message out once, as changed when it comes back edited or deleted, forgetting the oldest past its bound', () => {
    const message = messageJson;
    const seen = createSeenMessages(2);
    const deleted = message('a', { content: null, deletedAt: '2026-12-01T00:01:00.000Z' });
    expect([seen.offer(message('a')), seen.offer(message('a', { status: 'read' })), seen.offer(deleted)]).toEqual([
      'new',
      'same',
      'changed',
    ]);
    // A reaction as a frame carries me: false, as REST carries me: true: the same version.
    const liked = message('a', { ...deleted, reactions: [{ emoji: '👍', count: 1, me: true }] });
    expect(seen.changed(liked)).toBe(true);
    expect(seen.changed({ ...liked, reactions: [{ emoji: '👍', count: 1, me: false }] })).toBe(false);
    expect(seen.offer(liked)).toBe('same');
    // A change to a message never handed out is passed on, but it stays unknown.
    expect(seen.changed(message('z', { editedAt: '2026-12-01T00:02:00.000Z' }))).toBe(true);
    expect(seen.offer(message('z'))).toBe('new');
    expect([seen.offer(message('c')), seen.offer(message('a'))]).toEqual(['new', 'new']);
  });

  it('ignores a stored value that is not its own JSON instead of sending made-up cursors', () => {
    const map = new Map([
      ['switchboard:sync:u1', 'not json'],
      ['switchboard:sync:u2', '{"cursors":null}'],
    ]);
    const store = localStorageCursorStore({ getItem: (k) => map.get(k) ?? null, setItem: (k, v) => map.set(k, v) });
    expect(store.load('u1')).toBeUndefined();
    expect(store.load('u2')).toBeUndefined();
    store.save('u3', { syncCursor: 's', cursors: { c: 'x' } });
    expect(store.load('u3')).toEqual({ syncCursor: 's', cursors: { c: 'x' } });
  });

  it('reads only JSON text frames with a type', () => {
    expect(parseFrame('{"type":"ready","data":{}}')).toEqual({ type: 'ready', data: {} });
    expect(parseFrame('nope')).toBeUndefined();
    expect(parseFrame('{"data":1}')).toBeUndefined();
    expect(parseFrame(new Uint8Array([1]))).toBeUndefined();
  });

  it('fills path parameters encoded and joins array query values with commas', () => {
    expect(fillPath('/groups/{groupId}/members/{userId}', { groupId: 'g 1', userId: 'u/2' })).toBe(
      '/groups/g%201/members/u%2F2',
    );
    expect(() => fillPath('/groups/{groupId}', {})).toThrow(/groupId/);
    expect(queryString({ userIds: ['a', 'b'], limit: 5, after: undefined })).toBe('?userIds=a%2Cb&limit=5');
    expect(queryString({})).toBe('');
  });
});
