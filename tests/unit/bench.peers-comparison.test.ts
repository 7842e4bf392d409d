import { describe, expect, it } from 'vitest';
import type { ProcessUsage } from '../bench/lib/process-metrics.js';
import type { Measurement, ScenarioResult } from '../bench/lib/scenario.js';
import { comparePeers, PEER_ID, renderPeers } from '../bench/peers/compare.js';
import { SUSTAINED_P99_MS, sweepRates } from '../bench/peers/sweep.js';

// The numbers `npm run bench -- --peers` prints as Switchboard ÷ Centrifugo: a ratio computed the
// wrong way round, or from the wrong measurement, would tell the reader the opposite of the truth.

const usage = (cpuSeconds: number, cpuPercent = 50): ProcessUsage => ({
  pid: 1,
  cpuSeconds,
  cpuPercent,
  rssStartMb: 100,
  rssEndMb: 100,
  rssPeakMb: 100,
});

const measurement = (
  label: string,
  fields: {
    p50?: number;
    p99: number;
    count: number;
    errors?: number;
    throughput?: number;
    api: ProcessUsage[];
    cassandraSeconds?: number;
    loadgen?: number;
  },
): Measurement => ({
  label,
  concurrency: null,
  rate: 200,
  requests: fields.count + (fields.errors ?? 0),
  errors: fields.errors ?? 0,
  seconds: 15,
  throughput: fields.throughput ?? 200,
  latencyMs: {
    count: fields.count,
    mean: fields.p50 ?? 1,
    p50: fields.p50 ?? 1,
    p95: fields.p99,
    p99: fields.p99,
    max: fields.p99,
  },
  api: fields.api,
  cassandra: fields.cassandraSeconds === undefined ? null : usage(fields.cassandraSeconds),
  loadgenCpuPercent: fields.loadgen ?? 10,
});

const scenario = (
  id: string,
  measurements: Measurement[],
  metrics: ScenarioResult['metrics'] = {},
): ScenarioResult => ({
  id,
  title: id,
  status: 'ok',
  seconds: 1,
  measurements,
  metrics,
  notes: [],
});

describe('peer comparison', () => {
  const fanout = scenario(
    'fanout',
    [
      measurement('1:1 cross-node, 200 sends/s', {
        p50: 3.5,
        p99: 64,
        count: 3000,
        api: [usage(3), usage(3)],
        cassandraSeconds: 6,
      }),
      measurement('500-member group, 100 sends, 4 in flight', {
        p99: 99,
        count: 49_900,
        throughput: 30_000,
        api: [usage(1)],
      }),
    ],
    { groupSize: 500 },
  );
  const peer = scenario(
    PEER_ID,
    [
      measurement('1:1, 200 publishes/s', { p50: 1, p99: 4, count: 3000, api: [usage(2.1)] }),
      measurement('500-member group, 100 publishes, 4 in flight', {
        p99: 81,
        count: 49_900,
        throughput: 60_000,
        api: [usage(1)],
      }),
    ],
    { groupSize: 500, maxSustainedRate: 3200, firstFailedRate: 6400, sweepHarnessBound: 'no' },
  );

  it('divides Switchboard by the peer, per delivered message for CPU', () => {
    const rows = comparePeers([fanout, peer])?.rows ?? [];
    const find = (what: string) => rows.find((r) => r.what.includes(what));
    expect(find('frame p99')).toMatchObject({ switchboard: 64, peer: 4, ratio: 16, better: 'lower' });
    // 6 s of API CPU over 3,000 deliveries = 2 ms; Centrifugo 2.1 s / 3,000 = 0.7 ms.
    expect(find('API process(es)')).toMatchObject({ switchboard: 2, peer: 0.7, ratio: 2.86 });
    expect(find('API + Cassandra')).toMatchObject({ switchboard: 4, peer: 0.7, ratio: 5.71 });
    expect(find('group: deliveries/s')).toMatchObject({
      switchboard: 30_000,
      peer: 60_000,
      ratio: 0.5,
      better: 'higher',
    });
    // The fan-out scenario measures no sweep: no ratio rather than a made-up one.
    expect(find('highest 1:1 rate')).toMatchObject({ switchboard: null, peer: 3200, ratio: null });
  });

  it('says why there is nothing to compare when the peer was skipped', () => {
    const skipped: ScenarioResult = { ...peer, status: 'skipped', reason: 'Go is not installed', measurements: [] };
    const comparison = comparePeers([fanout, skipped]);
    expect(comparison?.missing).toContain('Go is not installed');
    expect(renderPeers(comparison).join('\n')).toContain('**No comparison**: Centrifugo skipped: Go is not installed');
  });

  it('is absent when the peer was not asked for', () => {
    expect(comparePeers([fanout])).toBeUndefined();
    expect(renderPeers(undefined)).toEqual([]);
  });
});

describe('rate sweep', () => {
  const step = (rate: number, p99: number, serverCpu = 80) =>
    measurement(`at ${rate}`, { p99, count: rate, throughput: rate, api: [usage(1, serverCpu)] });

  it('stops at the first rate that fails twice and keeps the last that held', async () => {
    const seen: number[] = [];
    // 400/s fails once (a burst of someone else's work), then holds; 800/s fails twice.
    const p99s = new Map([
      [200, [5]],
      [400, [80, 9]],
      [800, [70, 90]],
      [1600, [5]],
    ]);
    const result = await sweepRates([200, 400, 800, 1600], async (rate) => {
      seen.push(rate);
      return step(rate, p99s.get(rate)?.shift() ?? 5);
    });
    expect(seen).toEqual([200, 400, 400, 800, 800]);
    expect(result).toMatchObject({ maxSustainedRate: 400, firstFailedRate: 800, harnessBound: false });
  });

  it('counts a lost delivery as a failure however fast the rest were', async () => {
    const result = await sweepRates([200], async (rate) => ({ ...step(rate, 1), errors: 1 }));
    expect(result).toMatchObject({ maxSustainedRate: null, firstFailedRate: 200 });
  });

  it('fails a rate the load generator could not issue, however fast each delivery was', async () => {
    const result = await sweepRates([200, 3200], async (rate) => ({
      ...step(rate, 5),
      throughput: Math.min(rate, 2646),
    }));
    expect(result).toMatchObject({ maxSustainedRate: 200, firstFailedRate: 3200 });
  });

  it('calls a failure with the server at a fraction of a core harness-bound', async () => {
    const result = await sweepRates([200, 400], async (rate) => step(rate, rate === 400 ? SUSTAINED_P99_MS : 5, 20));
    expect(result).toMatchObject({ maxSustainedRate: 200, firstFailedRate: 400, harnessBound: true });
    expect(result.atFailure).toContain('server 20% of a core');
  });
});
