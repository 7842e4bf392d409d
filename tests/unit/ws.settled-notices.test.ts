import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { idAt, minUlidAt } from '../../src/domain/ids.js';
import {
  createSettledNotices,
  SETTLED_BATCH,
  SETTLED_BATCH_GAP_MS,
  SETTLED_FRAME,
} from '../../src/ws/settled-notices.js';

/** The gateway's `settled` notices, on a hand-driven clock and stable position. */
function target(open = true) {
  const sent: string[] = [];
  const send = (text: string) => {
    if (open) sent.push(text);
    return open;
  };
  return { sent, send };
}

describe('settled notices', () => {
  let now = 1_800_000_000_000;
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());
  const notices = (observer?: { settledSent(count: number): void }) =>
    createSettledNotices({ now: () => now, marginMs: 500, delayMs: 200, ...(observer ? { observer } : {}) });

  it('tells a connection once the position passes its ready time plus the margin, after the delay', () => {
    const n = notices();
    const connection = target();
    n.watch(connection);
    n.advanced(idAt(now + 499));
    vi.advanceTimersByTime(1_000);
    expect(connection.sent).toEqual([]);

    n.advanced(minUlidAt(now + 500));
    vi.advanceTimersByTime(199);
    expect(connection.sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(connection.sent.map((text) => JSON.parse(text))).toEqual([{ type: 'settled', data: {} }]);

    n.advanced(minUlidAt(now + 10_000));
    vi.advanceTimersByTime(1_000);
    expect(connection.sent).toEqual([SETTLED_FRAME]);
    expect(n.waiting).toBe(0);
  });

  it('holds each connection at its own threshold while the position stands still', () => {
    const n = notices();
    const early = target();
    const late = target();
    n.watch(early);
    now += 3_000;
    n.watch(late);
    n.advanced(minUlidAt(now - 2_000)); // past the early one's threshold only
    vi.advanceTimersByTime(500);
    expect(early.sent).toHaveLength(1);
    expect(late.sent).toEqual([]);
    expect(n.waiting).toBe(1);
    n.advanced(minUlidAt(now + 600));
    vi.advanceTimersByTime(500);
    expect(late.sent).toHaveLength(1);
  });

  it('never tells a connection that closed, and counts only frames that went out', () => {
    const counted: number[] = [];
    const n = notices({ settledSent: (count) => counted.push(count) });
    const gone = target();
    const closing = target(false);
    const open = target();
    n.watch(gone);
    n.watch(closing);
    n.watch(open);
    n.forget(gone);
    n.advanced(minUlidAt(now + 1_000));
    vi.advanceTimersByTime(500);
    expect(gone.sent).toEqual([]);
    expect(open.sent).toHaveLength(1);
    expect(counted).toEqual([1]);
  });

  it('spreads many notices due at once over batches, so a reconnect wave does not catch up in one instant', () => {
    const n = notices();
    const many = Array.from({ length: SETTLED_BATCH * 2 + 1 }, () => target());
    for (const connection of many) n.watch(connection);
    n.advanced(minUlidAt(now + 1_000));
    const told = () => many.filter((connection) => connection.sent.length === 1).length;
    vi.advanceTimersByTime(200);
    expect(told()).toBe(SETTLED_BATCH);
    vi.advanceTimersByTime(SETTLED_BATCH_GAP_MS);
    expect(told()).toBe(SETTLED_BATCH * 2);
    vi.advanceTimersByTime(SETTLED_BATCH_GAP_MS);
    expect(told()).toBe(many.length);
  });
});
