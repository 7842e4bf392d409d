import type { Redis } from 'ioredis';
import type { CassandraClient } from '../../../src/store/client.js';
import type { BenchHttp } from './http.js';
import type { LoadResult } from './load.js';
import { type ProcessUsage, trackProcesses } from './process-metrics.js';
import { type ApiNode, cassandraPids } from './stack.js';
import { type LatencySummary, round, summarize } from './stats.js';

/**
 * The sizes of one run. `full` is the reported benchmark; `quick` is a smoke run under 2 minutes;
 * `scale` (`--scale`) takes idle connections, group size and stored messages as far as one 2-core
 * machine reaches (about 40 minutes), with the full run's sizes for everything else.
 */
export interface Profile {
  name: 'full' | 'quick' | 'scale';
  seed: number;
  /** Concurrency of send, raw insert and history. */
  concurrency: number;
  /** History page size everywhere (fits the default 50-message cache window with its +1 probe). */
  pageLimit: number;
  workload: { users: number; directPairs: number; groups: number; groupSize: number };
  send: { warmup: number; requests: number; halfRateSeconds: number };
  history: { conversations: number; perConversation: number; requests: number; halfRateSeconds: number };
  fanout: { clients: number; rate: number; seconds: number; groupSize: number; groupMessages: number };
  /**
   * Idle connections; `env` is added to the idle nodes' environment, `backgroundSeconds` is how
   * long the servers' own statements and commands are counted once everyone is connected.
   */
  idle: { connections: number; backgroundSeconds: number; env?: Record<string, string> };
  growth: { levels: number[]; probes: number; perProbe: number; requests: number; concurrency: number };
  /** The groups scenario (--scale, or --only=groups): group sizes and messages sent to each. */
  groups: { sizes: number[]; messages: number[] };
}

const FULL: Profile = {
  name: 'full',
  seed: 20_240_601,
  concurrency: 32,
  pageLimit: 30,
  workload: { users: 200, directPairs: 100, groups: 20, groupSize: 10 },
  send: { warmup: 500, requests: 20_000, halfRateSeconds: 20 },
  history: { conversations: 100, perConversation: 400, requests: 10_000, halfRateSeconds: 15 },
  fanout: { clients: 1000, rate: 200, seconds: 15, groupSize: 500, groupMessages: 100 },
  idle: { connections: 10_000, backgroundSeconds: 30 },
  growth: { levels: [1e4, 1e5, 1e6], probes: 5, perProbe: 1000, requests: 2000, concurrency: 8 },
  groups: { sizes: [10, 500, 1000], messages: [200, 100, 50] },
};

export const PROFILES: Record<Profile['name'], Profile> = {
  full: FULL,
  quick: {
    name: 'quick',
    seed: 20_240_601,
    concurrency: 32,
    pageLimit: 30,
    workload: { users: 100, directPairs: 50, groups: 10, groupSize: 10 },
    send: { warmup: 200, requests: 2000, halfRateSeconds: 5 },
    history: { conversations: 20, perConversation: 200, requests: 2000, halfRateSeconds: 3 },
    fanout: { clients: 200, rate: 100, seconds: 4, groupSize: 100, groupMessages: 20 },
    idle: { connections: 1000, backgroundSeconds: 5 },
    growth: { levels: [1e3, 1e4], probes: 4, perProbe: 200, requests: 500, concurrency: 8 },
    groups: { sizes: [10, 100], messages: [50, 20] },
  },
  scale: {
    ...FULL,
    name: 'scale',
    // Six API nodes and six client processes at ulimit -n 20,000 (scenarios/idle.ts).
    idle: { connections: 100_000, backgroundSeconds: 30 },
    growth: { ...FULL.growth, levels: [1e4, 1e5, 1e6, 1e7] },
    groups: { sizes: [10, 500, 10_000], messages: [500, 100, 20] },
  },
};

/** What every scenario gets: the sizes, the driver, Redis, the main API node and a way to start more. */
export interface BenchContext {
  profile: Profile;
  client: CassandraClient;
  redis: Redis;
  api: ApiNode;
  http: BenchHttp;
  bucketMs: number;
  /** Starts another API node (stopped by run.ts at the end if the scenario does not); `env` adds variables. */
  startNode(name: string, keyspace?: string, env?: Record<string, string>): Promise<ApiNode>;
  /** Whether the nodes run with rate limits on (`--limits`: UNREACHABLE_LIMITS) or off (the default). */
  limits: boolean;
  /** `--peers`: scenarios that have a peer counterpart also measure what the comparison needs (the fan-out rate sweep). */
  peers: boolean;
  log(line: string): void;
}

/** One measured load run: throughput, latency, and what it cost the API process(es). */
export interface Measurement {
  label: string;
  concurrency: number | null;
  /** Offered rate for open-loop runs (requests/s), null for closed loops. */
  rate: number | null;
  requests: number;
  errors: number;
  firstError?: string;
  seconds: number;
  throughput: number;
  latencyMs: LatencySummary;
  api: ProcessUsage[];
  /** The Cassandra process over the same interval (null when it is not a local process we can see). */
  cassandra: ProcessUsage | null;
  /** CPU of the bench process itself (it shares the 2 cores with everything else). */
  loadgenCpuPercent: number;
}

export interface ScenarioResult {
  id: string;
  title: string;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  seconds: number;
  measurements: Measurement[];
  /** Scenario-specific headline numbers (e.g. rssPerConnectionKb, deliveriesPerSecond). */
  metrics: Record<string, number | string | null>;
  notes: string[];
}

/** Runs one load function while tracking the API processes and the bench process's own CPU. */
export async function measure(
  label: string,
  pids: readonly number[],
  shape: { concurrency?: number; rate?: number },
  run: () => Promise<LoadResult>,
): Promise<Measurement> {
  const tracker = trackProcesses(pids);
  const dbPids = cassandraPids();
  const db = dbPids.length === 0 ? undefined : trackProcesses(dbPids);
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  const result = await run();
  const cpu = process.cpuUsage(cpuBefore);
  const wallMs = performance.now() - wallBefore;
  const api = tracker.stop();
  // On the ring, the three nodes' figures added up (pid: the first node's).
  const cassandra = sumUsage(db?.stop() ?? []);
  return {
    label,
    concurrency: shape.concurrency ?? null,
    rate: shape.rate ?? null,
    requests: result.latenciesMs.length + result.errors,
    errors: result.errors,
    ...(result.firstError ? { firstError: result.firstError } : {}),
    seconds: round(result.elapsedMs / 1000),
    throughput: result.throughput,
    latencyMs: summarize(result.latenciesMs),
    api,
    cassandra,
    loadgenCpuPercent: round(((cpu.user + cpu.system) / 1000 / wallMs) * 100, 1),
  };
}

/** A result for a scenario that could not run, with the reason printed and reported. */
export const skipped = (id: string, title: string, reason: string): ScenarioResult => ({
  id,
  title,
  status: 'skipped',
  reason,
  seconds: 0,
  measurements: [],
  metrics: {},
  notes: [],
});

/** Several processes' usage as one (CPU and RSS added up), or null for none. */
function sumUsage(usages: ProcessUsage[]): ProcessUsage | null {
  const [first] = usages;
  if (!first || usages.length === 1) return first ?? null;
  const add = (pick: (u: ProcessUsage) => number) =>
    round(
      usages.reduce((sum, u) => sum + pick(u), 0),
      1,
    );
  return {
    pid: first.pid,
    cpuSeconds: add((u) => u.cpuSeconds),
    cpuPercent: add((u) => u.cpuPercent),
    rssStartMb: add((u) => u.rssStartMb),
    rssEndMb: add((u) => u.rssEndMb),
    rssPeakMb: add((u) => u.rssPeakMb),
  };
}
