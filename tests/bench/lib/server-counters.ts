import type { Redis } from 'ioredis';
import { commandCalls } from '../../support/redis-commandstats.js';

/**
 * What the servers did during a measurement, counted by themselves: the Cassandra statements every
 * API node issued (its `switchboard_cassandra_request_duration_seconds` histogram, by statement)
 * and the commands Redis ran (`INFO commandstats`, a script's own calls included), with each node's
 * event-loop delay and GC time over the same interval. The difference
 * of two snapshots, divided by the messages delivered, is the per-message cost that
 * tests/bench/README.md ("What one message costs") breaks down.
 */
export interface CounterSnapshot {
  cassandra: Map<string, number>;
  /** Seconds the API nodes waited on each statement kind (the histogram's sum). */
  cassandraSeconds: Map<string, number>;
  redis: Map<string, number>;
  /** Server-side time and count of POST /api/v1/messages (from the request histogram). */
  sendSeconds: number;
  sends: number;
  /**
   * Per node: event-loop delay p99 and max in ms since the previous scrape (prom-client's
   * monitorEventLoopDelay histogram, reset at every scrape), and seconds spent in GC so far.
   */
  loops: { p99Ms: number; maxMs: number; gcSeconds: number }[];
}

const CASSANDRA = /^switchboard_cassandra_request_duration_seconds_(count|sum)\{([^}]*)\} ([\d.e+-]+)/;
const SEND = /^switchboard_http_request_duration_seconds_(count|sum)\{([^}]*)\} ([\d.e+-]+)/;

async function nodeCounters(metricsUrls: string[]) {
  const counts = new Map<string, number>();
  const seconds = new Map<string, number>();
  let sendSeconds = 0;
  let sends = 0;
  const loops: CounterSnapshot['loops'] = [];
  const add = (map: Map<string, number>, key: string, value: number) => map.set(key, (map.get(key) ?? 0) + value);
  for (const url of metricsUrls) {
    const text = await (await fetch(`${url}/metrics`)).text();
    const gauge = (name: string) => Number(new RegExp(`^${name} ([\\d.e+-]+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    const gcSeconds = [...text.matchAll(/^nodejs_gc_duration_seconds_sum\{[^}]*\} ([\d.e+-]+)$/gm)].reduce(
      (sum, match) => sum + Number(match[1]),
      0,
    );
    loops.push({
      p99Ms: Math.round(gauge('nodejs_eventloop_lag_p99_seconds') * 10_000) / 10,
      maxMs: Math.round(gauge('nodejs_eventloop_lag_max_seconds') * 10_000) / 10,
      gcSeconds,
    });
    for (const line of text.split('\n')) {
      const statement = CASSANDRA.exec(line);
      if (statement) {
        const kind = /statement="([^"]*)"/.exec(statement[2] as string)?.[1] ?? '?';
        add(statement[1] === 'count' ? counts : seconds, kind, Number(statement[3]));
        continue;
      }
      const send = SEND.exec(line);
      if (send?.[2]?.includes('method="POST"') && send[2].includes('route="/api/v1/messages"')) {
        if (send[1] === 'count') sends += Number(send[3]);
        else sendSeconds += Number(send[3]);
      }
    }
  }
  return { counts, seconds, sendSeconds, sends, loops };
}

export async function snapshotCounters(metricsUrls: string[], redis: Redis): Promise<CounterSnapshot> {
  const [nodes, commands] = await Promise.all([nodeCounters(metricsUrls), commandCalls(redis)]);
  return {
    cassandra: nodes.counts,
    cassandraSeconds: nodes.seconds,
    redis: commands,
    sendSeconds: nodes.sendSeconds,
    sends: nodes.sends,
    loops: nodes.loops,
  };
}

/** after − before per key, divided by `per`, rounded to 2 decimals; zero rows dropped, largest first. */
function perUnit(before: Map<string, number>, after: Map<string, number>, per: number): Record<string, number> {
  const rows: [string, number][] = [];
  for (const [key, value] of after) {
    const delta = value - (before.get(key) ?? 0);
    if (delta > 0) rows.push([key, Math.round((delta / Math.max(1, per)) * 100) / 100]);
  }
  rows.sort((a, b) => b[1] - a[1]);
  return Object.fromEntries(rows);
}

/** Per-message statements and commands between two snapshots, with their totals. */
export function countersPer(before: CounterSnapshot, after: CounterSnapshot, per: number) {
  const cassandra = perUnit(before.cassandra, after.cassandra, per);
  const redis = perUnit(before.redis, after.redis, per);
  const total = (rows: Record<string, number>) =>
    Math.round(Object.values(rows).reduce((sum, value) => sum + value, 0) * 100) / 100;
  // Mean wait per statement kind, in ms, as the API node saw it (queueing in the driver included).
  const meanMs: Record<string, number> = {};
  for (const key of Object.keys(cassandra)) {
    const n = (after.cassandra.get(key) ?? 0) - (before.cassandra.get(key) ?? 0);
    const s = (after.cassandraSeconds.get(key) ?? 0) - (before.cassandraSeconds.get(key) ?? 0);
    if (n > 0) meanMs[key] = Math.round((s / n) * 10_000) / 10;
  }
  const sends = after.sends - before.sends;
  const sendMeanMs = sends > 0 ? Math.round(((after.sendSeconds - before.sendSeconds) / sends) * 10_000) / 10 : null;
  // Each node's loop delay over the interval (the scrape before reset it) and its GC time in it.
  const loops = after.loops.map((loop, i) => ({
    p99Ms: loop.p99Ms,
    maxMs: loop.maxMs,
    gcMs: Math.round((loop.gcSeconds - (before.loops[i]?.gcSeconds ?? 0)) * 1000),
  }));
  return { cassandra, cassandraTotal: total(cassandra), meanMs, redis, redisTotal: total(redis), sendMeanMs, loops };
}

/** "5.1 (INSERT messages 1, SELECT blocks_by_user 2, …)": a per-message line for reports and logs. */
export function formatPer(total: number, rows: Record<string, number>, top = 8): string {
  const parts = Object.entries(rows)
    .slice(0, top)
    .map(([key, value]) => `${key} ${value}`);
  return `${total} (${parts.join(', ')}${Object.keys(rows).length > top ? ', …' : ''})`;
}
