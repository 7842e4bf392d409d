import { EventEmitter } from 'node:events';
import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../src/logger.js';
import { watchClusterSubscriptions } from '../../src/realtime/bus-cluster.js';

/**
 * Which sharded channels a cluster bus reports as possible gaps, driven by the events ioredis's
 * Cluster emits (the real thing runs in tests/integration/redis.cluster-slot-migration.test.ts
 * and redis.cluster-failover.test.ts).
 */
const A = '127.0.0.1:7001';
const B = '127.0.0.1:7002';
const moving = 'sb:v1:ch:user:{moving}';
const staying = 'sb:v1:ch:user:{staying}';

function fakeCluster() {
  const emitter = new EventEmitter() as EventEmitter & { slots: string[][]; refreshSlotsCache: () => void };
  emitter.slots = Array.from({ length: 16384 }, () => [A]);
  emitter.refreshSlotsCache = vi.fn();
  return emitter;
}

describe('cluster subscription gaps', () => {
  let cluster: ReturnType<typeof fakeCluster>;
  let gaps: Array<{ channels: string[]; reason: string }>;
  let watch: ReturnType<typeof watchClusterSubscriptions>;
  const wanted = new Set<string>();

  beforeEach(() => {
    vi.useFakeTimers();
    cluster = fakeCluster();
    gaps = [];
    wanted.clear();
    watch = watchClusterSubscriptions({
      cluster: cluster as unknown as Cluster,
      logger: { error: () => {} } as unknown as Logger,
      wanted: () => wanted,
      onGap: (channels, reason) => gaps.push({ channels, reason }),
    });
    for (const channel of [moving, staying]) {
      wanted.add(channel);
      watch.track(channel);
    }
  });
  afterEach(() => {
    watch.close();
    vi.useRealTimers();
  });

  const settle = () => {
    cluster.emit('subscribersReady');
    vi.advanceTimersByTime(1000);
  };

  it('reports only the channels whose slot got another primary, once ioredis resubscribed', () => {
    cluster.slots[calculateSlot(moving)] = [B];
    cluster.emit('subscribersReady');
    expect(gaps).toEqual([]);
    vi.advanceTimersByTime(1000);
    expect(gaps).toEqual([{ channels: [moving], reason: 'slot moved' }]);
    // Known to be on B now: a later unrelated refresh reports nothing.
    settle();
    expect(gaps).toHaveLength(1);
  });

  it('reports every wanted channel when a sharded subscriber connection was replaced', () => {
    cluster.emit('-subscriber');
    settle();
    expect(gaps).toEqual([{ channels: [moving, staying], reason: 'subscriber connection lost' }]);
  });

  it("reports nothing for a topology change that moved none of the node's channels, or a command-pool node ending", () => {
    cluster.emit('-node', {}, A);
    cluster.slots[calculateSlot('sb:v1:ch:user:{someone-else}')] = [B];
    settle();
    expect(gaps).toEqual([]);
  });

  it('reports one gap for a burst of resets (a dead primary retried many times a second)', () => {
    cluster.slots[calculateSlot(moving)] = [B];
    for (let i = 0; i < 10; i++) {
      cluster.emit('subscribersReady');
      vi.advanceTimersByTime(100);
    }
    vi.advanceTimersByTime(1000);
    expect(gaps).toEqual([{ channels: [moving], reason: 'slot moved' }]);
  });

  it('refreshes the slot map at once when a primary pushes SUNSUBSCRIBE (the slot left it)', () => {
    cluster.emit(
      'nodeError',
      new Error(
        `Command queue state error. If you can reproduce this, please report it. Last reply: sunsubscribe,${moving},0`,
      ),
      A,
    );
    expect(cluster.refreshSlotsCache).toHaveBeenCalledTimes(1);
    cluster.emit('nodeError', new Error('connect ECONNREFUSED'), A);
    expect(cluster.refreshSlotsCache).toHaveBeenCalledTimes(1);
  });

  it('forgets a channel the bus no longer wants', () => {
    watch.untrack(moving);
    wanted.delete(moving);
    cluster.slots[calculateSlot(moving)] = [B];
    settle();
    expect(gaps).toEqual([]);
  });
});
