import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricTotal } from '../support/server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { computeFigures, renderScenario, type ScenarioFigures } from './support/figures.js';
import { missingPerReplica, readBackHistory } from './support/history.js';
import { type Load, startLoad } from './support/load.js';
import {
  cluster,
  nodetool,
  readTopology,
  redisClusterOk,
  redisPrimaries,
  sleep,
  type Topology,
  until,
} from './support/topology.js';

/**
 * Issue 14's fault suite against the running cluster (`npm run up -- --cluster`): for each scenario
 * a fresh steady load through nginx (load.ts: senders with idempotency keys and retries, WebSocket
 * clients on the documented sync loop, history readers), the fault injected and recovered, then
 * the figures (figures.ts) written to the report and the promises asserted: every acknowledged
 * send in history, none stored twice, every WebSocket client with every acknowledged message,
 * plus each scenario's own checks.
 *
 * CHAOS_SCENARIOS=cassandra-node,api-node picks scenarios (CI runs a reduced set); the report goes
 * to CHAOS_REPORT (default tests/chaos/REPORT.md). Not part of `npm test`: `npm run chaos`.
 */

const BEFORE_MS = Number(process.env.CHAOS_BEFORE_MS ?? 8_000);
const AFTER_MS = Number(process.env.CHAOS_AFTER_MS ?? 10_000);
/** How long WebSocket clients get to converge through their own loop, and history to read back. */
const SETTLE_MS = 45_000;
const REPORT = process.env.CHAOS_REPORT ?? new URL('./REPORT.md', import.meta.url).pathname;

interface Context {
  topology: Topology;
  load: Load;
  notes: string[];
  checks: { what: string; ok: boolean }[];
  /** Scenario-specific moments the fault records for its checks (e.g. when both nodes were down). */
  moments: Record<string, number>;
}

interface Scenario {
  name: string;
  title: string;
  /** Before the load starts (the topology changed for this scenario); `cleanup` undoes it, whatever happened. */
  prepare?(context: Pick<Context, 'topology' | 'notes' | 'moments'>): Promise<void>;
  cleanup?(context: Pick<Context, 'topology' | 'notes' | 'moments'>): Promise<void>;
  /** Injects the fault and recovers from it; resolves once recovery is done. */
  fault(context: Context): Promise<void>;
  /** Checks after the load stopped and history was read back. */
  verify?(context: Context, times: ScenarioFigures['times']): Promise<void>;
}

const check = (context: Context, what: string, ok: boolean) => context.checks.push({ what, ok });

/** All three Cassandra nodes Up/Normal as node 1 sees them. */
async function ringUp(): Promise<boolean> {
  const status = await nodetool(1, 'status').catch(() => '');
  return (status.match(/^UN\s/gm) ?? []).length === 3;
}

async function apiReady(topology: Topology): Promise<boolean> {
  const answers = await Promise.all(
    topology.api.map((node) =>
      fetch(`${node.url}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      ),
    ),
  );
  return answers.every(Boolean);
}

/** Waits for a healthy topology between scenarios, so one scenario's fault never leaks into the next. */
async function healthy(topology: Topology) {
  const waited = await until(
    async () => (await ringUp()) && (await apiReady(topology)) && (await redisClusterOk(topology)),
    120_000,
    1_000,
  );
  if (waited === undefined) throw new Error('the cluster did not become healthy within 120 s');
}

/** When sends first succeed again after `from`. */
const firstSuccessAfter = (load: Load, from: number) =>
  load.sends
    .filter((a) => a.ok && a.at >= from)
    .reduce((min, a) => Math.min(min, a.at + a.ms), Number.POSITIVE_INFINITY);

/** The API node whose Cassandra link goes through proxies in the `cassandra-link` scenario. */
const LINKED_API = 3;
let linkProxies: TcpProxy[] = [];
const requestsServed = (metricsUrl: string) =>
  metricTotal(metricsUrl, 'switchboard_http_request_duration_seconds_count').catch(() => Number.NaN);
const readyzStatus = (url: string) =>
  fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) }).then(
    (r) => r.status,
    () => 0,
  );

const SCENARIOS: Scenario[] = [
  {
    name: 'cassandra-node',
    title: 'One Cassandra node SIGKILLed, restarted 15 s later',
    async fault({ notes }) {
      await cluster('kill', 'cassandra', '2');
      await sleep(15_000);
      const started = Date.now();
      await cluster('start', 'cassandra', '2');
      notes.push(`node 2 answered CQL again ${((Date.now() - started) / 1000).toFixed(1)} s after its restart began`);
    },
    async verify(context) {
      const { topology, load, notes } = context;
      // Hints first: the coordinators replay what node 2 missed once gossip sees it up.
      let missing = await missingPerReplica(topology, load);
      const hinted = await until(
        async () => {
          missing = await missingPerReplica(topology, load);
          return [...missing.values()].every((ids) => ids.length === 0);
        },
        60_000,
        3_000,
      );
      const onNode2 = missing.get(2)?.length ?? 0;
      if (hinted !== undefined)
        notes.push(
          `every acknowledged row on all three replicas (NODE_LOCAL reads) after hints, ${Math.round(hinted / 1000)} s after the check began`,
        );
      else {
        notes.push(
          `${onNode2} acknowledged rows still missing on node 2 after 60 s of hint replay: running nodetool repair`,
        );
        await nodetool(2, 'repair', '-full', topology.keyspace);
        missing = await missingPerReplica(topology, load);
      }
      const endpoints = (await nodetool(1, 'getendpoints', topology.keyspace, 'users', 'any')).trim().split('\n');
      notes.push(
        `nodetool getendpoints ${topology.keyspace} users any → ${endpoints.join(', ')} (RF 3 on 3 nodes: every node a replica)`,
      );
      for (const [n, ids] of missing) {
        check(
          context,
          `node ${n} alone (NODE_LOCAL) holds all ${load.acknowledged.size} acknowledged messages`,
          ids.length === 0,
        );
      }
    },
  },
  {
    name: 'api-node',
    title: 'One API node SIGKILLed, restarted 10 s later',
    async fault({ topology, notes }) {
      // The node holding the most WebSocket clients: the point is that they reconnect and miss nothing.
      const held = await Promise.all(
        topology.api.map((node) => metricTotal(node.metricsUrl, 'switchboard_ws_connections').catch(() => 0)),
      );
      const victim = topology.api[held.indexOf(Math.max(...held))];
      if (!victim) throw new Error('no API node');
      notes.push(`WebSocket connections per API node before the kill: ${held.join(' / ')}`);
      await cluster('kill', 'api', String(victim.n));
      await sleep(10_000);
      await cluster('start', 'api', String(victim.n));
      notes.push(
        `${victim.nodeId} SIGKILLed; its sync row holds the stable position back until it is reaped (SYNC_NODE_TIMEOUT_MS + half), so catch-up lags that long by design`,
      );
    },
    async verify(context) {
      const reconnected = context.load.clients.filter((client) => client.connections > 1).length;
      context.notes.push(
        `${reconnected} of ${context.load.clients.length} WebSocket clients reconnected through nginx (close codes: ${[...new Set(context.load.clients.flatMap((c) => c.closeCodes))].join(', ') || 'none'})`,
      );
      check(context, 'the killed node’s WebSocket clients reconnected (some client reconnected)', reconnected > 0);
    },
  },
  {
    name: 'redis-primary',
    title: 'One Redis primary SIGKILLed (replica takes over), then restarted as a replica',
    async fault({ topology, notes }) {
      const [victim] = await redisPrimaries(topology);
      if (!victim) throw new Error('no Redis primary');
      const killed = Date.now();
      await cluster('kill', 'redis', String(victim));
      const failover = await until(
        async () => (await redisPrimaries(topology)).length === 3 && (await redisClusterOk(topology)),
        30_000,
        100,
      );
      notes.push(
        `primary ${victim} killed; a replica took over after ${failover === undefined ? 'more than 30 s' : `${((Date.now() - killed) / 1000).toFixed(1)} s`}`,
      );
      await sleep(3_000);
      await cluster('start', 'redis', String(victim));
      await until(() => redisClusterOk(topology), 30_000, 200);
    },
    async verify(context, times) {
      const { load } = context;
      const failed = load.sends.filter((a) => !a.ok).length;
      check(context, 'every send answered 201 throughout', failed === 0);
      check(
        context,
        'clients were told to resync',
        load.clients.some((c) => c.resyncs > 0),
      );
      const lateAcks = [...load.acknowledged.values()].filter((ack) => ack.at > times.faultEnd + 3_000);
      const live = lateAcks.filter((ack) =>
        load.clients.filter((c) => ack.recipients.includes(c.user.id)).every((c) => c.live.has(ack.id)),
      );
      context.notes.push(
        `live delivery after recovery: ${live.length} of ${lateAcks.length} messages acknowledged 3 s after recovery reached every recipient as a live frame`,
      );
      check(
        context,
        'live delivery resumed (most late messages arrived live)',
        lateAcks.length > 0 && live.length >= lateAcks.length * 0.9,
      );
    },
  },
  {
    name: 'two-cassandra-nodes',
    title: 'Two Cassandra nodes SIGKILLed; one returns after 20 s, the other after the run',
    async fault(context) {
      await Promise.all([cluster('kill', 'cassandra', '2'), cluster('kill', 'cassandra', '3')]);
      context.moments.bothDown = Date.now();
      await sleep(20_000);
      context.moments.returning = Date.now();
      await cluster('start', 'cassandra', '3');
      context.moments.back = Date.now();
    },
    async verify(context) {
      const { bothDown = 0, returning = 0, back = 0 } = context.moments;
      // Sends started while two replicas were down. Node 3's JVM needs well over 5 s from launch to
      // take writes (15-50 s measured here), so any of them acknowledged before returning + 5 s
      // would be a LOCAL_QUORUM write acknowledged by one replica.
      const started = context.load.sends.filter((a) => a.at >= bothDown && a.at < returning);
      const acknowledgedWhileDown = started.filter((a) => a.ok && a.at + a.ms < returning + 5_000).length;
      const outcomes: Record<string, number> = {};
      for (const a of started) outcomes[a.outcome] = (outcomes[a.outcome] ?? 0) + 1;
      context.notes.push(
        `sends started while two of three replicas were down: ${started.length}, answered ${Object.entries(outcomes)
          .map(([outcome, n]) => `${n} × ${outcome}`)
          .join(', ')}`,
      );
      check(context, 'no send acknowledged while two replicas were down', acknowledgedWhileDown === 0);
      check(
        context,
        'sends refused meanwhile (503 UNAVAILABLE from the API, or 502 from nginx once it marked every node failed)',
        started.length > 0 && started.every((a) => !a.ok || a.at + a.ms >= returning + 5_000),
      );
      const resumed = firstSuccessAfter(context.load, returning);
      context.notes.push(
        `first acknowledged send ${((resumed - back) / 1000).toFixed(1)} s after node 3 answered CQL again`,
      );
      check(context, 'sends resumed once one node returned', Number.isFinite(resumed));
      await cluster('start', 'cassandra', '2');
    },
  },
  {
    name: 'cassandra-link',
    title: 'One API node’s link to Cassandra slowed (150 ms each way), then cut, then restored',
    async prepare({ topology, notes }) {
      // A proxy in front of each ring member, for this API node alone: it reaches the contact
      // points through them, and every member it learns from system.peers through them too
      // (CASSANDRA_ADDRESS_MAP), so the proxies stand between it and the whole ring.
      linkProxies = await Promise.all(topology.cassandra.map((node) => startTcpProxy(node.host, node.cqlPort)));
      const via = topology.cassandra.map((node, i) => ({
        from: `${node.host}:${node.cqlPort}`,
        to: `127.0.0.1:${linkProxies[i]?.port}`,
      }));
      const node = topology.api[LINKED_API - 1];
      if (!node) throw new Error(`no API node ${LINKED_API}`);
      writeFileSync(
        `${dirname(node.pidFile)}/extra.env`,
        [
          `CASSANDRA_CONTACT_POINTS=${via.map((v) => v.to).join(',')}`,
          `CASSANDRA_ADDRESS_MAP=${via.map((v) => `${v.from}=${v.to}`).join(',')}`,
          '',
        ].join('\n'),
      );
      await cluster('stop', 'api', String(LINKED_API));
      await cluster('start', 'api', String(LINKED_API));
      const open = linkProxies.map((proxy) => proxy.connections());
      notes.push(
        `${node.nodeId} restarted with its Cassandra link through proxies; connections per proxy: ${open.join(' / ')}`,
      );
    },
    async fault(context) {
      const { topology, notes, moments } = context;
      const node = topology.api[LINKED_API - 1];
      if (!node) throw new Error(`no API node ${LINKED_API}`);
      for (const proxy of linkProxies) {
        proxy.delay(150);
        proxy.delayReplies(150);
      }
      await sleep(10_000);
      const slowReady = await readyzStatus(node.url);
      notes.push(`slowed (150 ms each way) for 10 s: ${node.nodeId} /readyz answered ${slowReady}`);
      moments.slowReady = slowReady;
      const cut = Date.now();
      moments.cut = cut;
      for (const proxy of linkProxies) proxy.cut();
      const unready = await until(async () => (await readyzStatus(node.url)) === 503, 20_000, 100);
      moments.unreadyAfter = unready ?? Number.NaN;
      // While it is not ready: how many requests it still served, against the other nodes.
      const served = async () => Promise.all(topology.api.map((api) => requestsServed(api.metricsUrl)));
      const before = await served();
      await sleep(15_000);
      const after = await served();
      const delta = after.map((value, i) => value - (before[i] ?? 0));
      moments.linkedServed = delta[LINKED_API - 1] ?? Number.NaN;
      moments.othersServed = delta.reduce((sum, value, i) => (i === LINKED_API - 1 ? sum : sum + value), 0);
      notes.push(
        `cut: /readyz answered 503 after ${unready === undefined ? 'more than 20 s' : `${(unready / 1000).toFixed(1)} s`}; in the next 15 s the API nodes served ${delta.join(' / ')} requests (nginx marks a node failed after 3 errors for 10 s, then tries it again)`,
      );
      for (const proxy of linkProxies) proxy.restore();
      const restored = Date.now();
      const ready = await until(async () => (await readyzStatus(node.url)) === 200, 60_000, 200);
      moments.readyAgainAfter = ready ?? Number.NaN;
      notes.push(
        `restored: /readyz answered 200 again after ${ready === undefined ? 'more than 60 s' : `${(ready / 1000).toFixed(1)} s`}; the whole cut lasted ${((restored - cut) / 1000).toFixed(1)} s`,
      );
    },
    async verify(context) {
      const { moments } = context;
      check(context, 'the node stayed ready while its link was only slow', moments.slowReady === 200);
      check(
        context,
        'the node reported not ready (503) within 10 s of the cut',
        (moments.unreadyAfter ?? Number.NaN) <= 10_000,
      );
      // nginx open source has no active probe: after 3 failures it skips the node for 10 s, then
      // tries it again, so a few requests still reach it (measured: 20 of 213 in 15 s, an even
      // share being 71).
      const total = (moments.othersServed ?? 0) + (moments.linkedServed ?? 0);
      const evenShare = total / context.topology.api.length;
      check(
        context,
        'the balancer sent the not-ready node under half of an even share of the requests',
        (moments.linkedServed ?? Number.NaN) < evenShare / 2,
      );
      check(context, 'the node reported ready again once its link was back', Number.isFinite(moments.readyAgainAfter));
    },
    async cleanup({ topology }) {
      const node = topology.api[LINKED_API - 1];
      if (node) rmSync(`${dirname(node.pidFile)}/extra.env`, { force: true });
      await cluster('stop', 'api', String(LINKED_API));
      await cluster('start', 'api', String(LINKED_API));
      await Promise.all(linkProxies.map((proxy) => proxy.close()));
      linkProxies = [];
    },
  },
  {
    name: 'redis-restart-empty',
    title: 'All of Redis stopped and recreated empty',
    async fault({ notes }) {
      const started = Date.now();
      await cluster('redis-restart-empty');
      notes.push(
        `the six Redis nodes were down and back (a new, empty cluster) within ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    },
    async verify(context) {
      check(
        context,
        'every send answered 201 throughout',
        context.load.sends.every((a) => a.ok),
      );
      check(
        context,
        'clients were told to resync or reconnected',
        context.load.clients.some((c) => c.resyncs > 0 || c.connections > 1),
      );
    },
  },
];

const only = process.env.CHAOS_SCENARIOS?.split(',').map((name) => name.trim());
const chosen = SCENARIOS.filter((scenario) => !only || only.includes(scenario.name));

describe('faults under load on the cluster topology', () => {
  let topology: Topology;
  const results: ScenarioFigures[] = [];
  const runStarted = new Date();

  beforeAll(async () => {
    topology = readTopology();
    await healthy(topology);
  }, 150_000);

  afterAll(() => {
    mkdirSync(dirname(REPORT), { recursive: true });
    const header = [
      '# Fault suite report (generated by `npm run chaos`)',
      '',
      `Run ${runStarted.toISOString()}, ${results.length} scenario(s): ${results.map((r) => r.name).join(', ')}.`,
      `Topology: 3 Cassandra 5.0 nodes (${topology?.cassandra.map((n) => n.host).join(', ')}), RF 3, LOCAL_QUORUM; a Redis Cluster of 3 primaries + 3 replicas; ${topology?.api.length} API nodes behind nginx (${topology?.balancer}). One 2-core machine shared with other work: latencies are this machine's, not a capacity claim.`,
      '',
    ];
    writeFileSync(REPORT, [...header, ...results.map(renderScenario)].join('\n'));
  });

  for (const scenario of chosen) {
    it(scenario.title, async () => {
      await healthy(topology);
      const setup: Pick<Context, 'topology' | 'notes' | 'moments'> = { topology, notes: [], moments: {} };
      try {
        await scenario.prepare?.(setup);
        await runScenario(scenario, setup);
      } finally {
        await scenario.cleanup?.(setup);
      }
    }, 480_000);
  }

  /** One scenario under a fresh load: the fault, the figures, the promises. */
  async function runScenario(scenario: Scenario, setup: Pick<Context, 'topology' | 'notes' | 'moments'>) {
    const load = await startLoad(topology.balancer);
    const context: Context = { ...setup, load, checks: [] };
    await sleep(BEFORE_MS);
    const faultStart = Date.now();
    await scenario.fault(context);
    const faultEnd = Date.now();
    await sleep(AFTER_MS);
    const stopped = await load.stopSending();
    const times = { started: load.started, faultStart, faultEnd, stopped };
    const live = await load.settle(SETTLE_MS);
    await load.stopClients();
    // Each client's last catch-up (as after a reconnect), so what live frames missed shows up or not.
    for (const client of load.clients) await until(() => client.catchUp(), 30_000, 1_000);
    const final = load.clients.filter(load.complete).length;
    const history = await readBackHistory(topology.balancer, load, SETTLE_MS);
    await scenario.verify?.(context, times);
    const figures: ScenarioFigures = {
      ...computeFigures(scenario.name, scenario.title, load, times, history, { live, final }),
      notes: [
        ...context.notes,
        ...(load.unexpected.length ? [`unexpected answers: ${load.unexpected.slice(0, 5).join('; ')}`] : []),
        ...(load.abandoned.length ? [`sends given up after 300 s of retries: ${load.abandoned.length}`] : []),
      ],
      checks: context.checks,
    };
    results.push(figures);
    console.log(renderScenario(figures));
    expect(figures.acknowledged, 'the load must have sent something').toBeGreaterThan(20);
    expect({ missing: figures.missing, duplicates: figures.duplicates }).toEqual({ missing: [], duplicates: 0 });
    expect({ unexpected: load.unexpected, abandoned: load.abandoned }).toEqual({ unexpected: [], abandoned: [] });
    expect(figures.wsCompleteFinal, 'every WebSocket client ends with every acknowledged message').toBe(
      figures.wsClients,
    );
    expect(context.checks.filter((c) => !c.ok).map((c) => c.what)).toEqual([]);
    // An outage is a 503 (or the balancer's 502 for a node that died mid-request), never a 500.
    const internal = [...load.sends, ...load.reads].filter((a) => a.outcome.startsWith('500'));
    expect(
      internal.map((a) => a.outcome),
      'no request answered 500',
    ).toEqual([]);
  }
});
