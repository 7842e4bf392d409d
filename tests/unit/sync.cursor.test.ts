import { describe, expect, it } from 'vitest';
import { createIdSource, idBefore, incrementId, isUlid, minUlidAt } from '../../src/domain/ids.js';
import { decodeCursor, encodeCursor, stablePosition } from '../../src/domain/sync-cursor.js';
import { createInFlight } from '../../src/services/sync/in-flight.js';

const ID = '01JD3W6YQ7R5S3T2V1X0Z9Y8W7';

describe('the sync cursor codec', () => {
  it('round-trips a position and is opaque base64url', () => {
    const text = encodeCursor({ below: ID });
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(text)).toEqual({ below: ID });
  });

  it('refuses anything it did not issue: other versions, bad positions, extra keys, edits', () => {
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const good = encodeCursor({ below: ID });
    for (const bad of [
      '',
      'not a cursor',
      encode({ v: 2, below: ID }),
      encode({ v: 1, below: 'x' }),
      encode({ v: 1 }),
      encode({ v: 1, below: ID, more: 1 }),
      encode(null),
      encode([ID]),
      good.slice(0, -2),
      `${good}A`,
      Buffer.from('{"v":1,"below":').toString('base64url'),
    ]) {
      expect(decodeCursor(bad)).toBeUndefined();
    }
  });
});

describe('the stable position', () => {
  it('is the smallest reported position', () => {
    expect(stablePosition(['03', '01', '02'], '')).toBe('01');
  });
  it('never goes back below what this node answered before', () => {
    expect(stablePosition(['01', '05'], '02')).toBe('02');
    expect(stablePosition([], '02')).toBe('02');
  });
});

describe('the floored id source', () => {
  it('mints ids above a raised floor even when its clock is far behind', () => {
    const source = createIdSource({ now: () => 1_000 });
    const floor = minUlidAt(5_000_000);
    source.raiseFloor(floor);
    const ids = [source.next(), source.next(), source.next()];
    expect(ids.every((id) => id > floor && isUlid(id))).toBe(true);
    expect([...ids].sort()).toEqual(ids);
  });

  it('reports a lower bound no later id goes below, also when the clock steps back', () => {
    let now = 2_000_000;
    const source = createIdSource({ now: () => now });
    source.next();
    const bound = source.lowerBound();
    now = 1_000_000;
    for (let i = 0; i < 100; i++) expect(source.next() >= bound).toBe(true);
  });

  it('increments and decrements ids in sort order', () => {
    expect(incrementId(ID) > ID).toBe(true);
    expect(idBefore(ID) < ID).toBe(true);
    expect(incrementId(idBefore(ID))).toBe(ID);
    expect(incrementId('0000000000000000000000000Z')).toBe('00000000000000000000000010');
  });
});

describe('in-flight sends', () => {
  it('hold the position at the oldest unsettled id until it settles', () => {
    let now = 10_000;
    const inFlight = createInFlight(createIdSource({ now: () => now }));
    const first = inFlight.mint();
    const second = inFlight.mint();
    now = 20_000;
    expect(inFlight.position()).toBe(first);
    inFlight.settle(first);
    expect(inFlight.position()).toBe(second);
    inFlight.settle(second);
    expect(inFlight.position()).toBe(minUlidAt(20_000));
  });
});
