import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser } from '../support/api.js';
import { TEST_REDIS_CLUSTER } from '../support/env.js';
import { type RedisClusterChild, startRedisCluster } from '../support/redis-cluster.js';
import { metricTotal, type ServerProcess, startServerProcess } from '../support/server.js';
import { connectWs, eventually, sendUntilLive, type TestSocket } from '../support/ws-client.js';

/**
 * A Redis Cluster failover under two nodes: the primary of a user's channel slot is killed
 * (SIGKILL), its replica takes over, sends keep answering 201, and live delivery comes back
 * once the node's sharded subscriber moved to the new primary, which it reports as a possible
 * gap (log, switchboard_pubsub_possible_gaps_total, the onPossibleGap hook). On a private
 * cluster of its own; runs in the cluster pass of docker/native/test.sh (TEST_REDIS_TOPOLOGY=cluster).
 */
let cluster: RedisClusterChild;
let nodeA: ServerProcess;
let nodeB: ServerProcess;
let api: ApiClient;
const sockets: TestSocket[] = [];

describe.runIf(TEST_REDIS_CLUSTER)('Redis Cluster failover', () => {
  beforeAll(async () => {
    cluster = await startRedisCluster({ nodeTimeoutMs: 1000 });
    const env = (id: string) => ({ NODE_ID: id, REDIS_CLUSTER_NODES: cluster.nodes, LOG_LEVEL: 'warn' });
    [nodeA, nodeB] = await Promise.all([startServerProcess(env('failover-a')), startServerProcess(env('failover-b'))]);
    api = apiClient(nodeA.url);
  });

  afterAll(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await Promise.all([nodeA?.stop('SIGTERM'), nodeB?.stop('SIGTERM')]);
    await cluster?.close();
  });

  it('keeps answering 201 while a primary dies, and delivers live again after resubscribing', async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const bobOnB = await connectWs(nodeB.url, bob.token);
    sockets.push(bobOnB);
    const sent = await api.post('/api/v1/messages', { receiverId: bob.id, content: 'before' }, alice.token);
    expect(sent.status).toBe(201);
    await bobOnB.waitFor('message.created', (data) => data.message.id === sent.body.message.id, 5000);

    const primary = await cluster.primaryOf(`sb:v1:ch:user:{${bob.id}}`);
    await cluster.kill(primary);
    const killedAt = Date.now();

    // Sends never fail because of Redis; delivery resumes once the replica is promoted and the
    // node's subscriber found it (bounded: cluster-node-timeout 1 s, then ioredis's refresh).
    const { delivered, attempts } = await sendUntilLive(api, alice, bob, bobOnB, { withinMs: 30_000 });
    if (!delivered) console.error(`node B's log:\n${nodeB.output().slice(-6000)}`);
    expect(delivered).toBe(true);
    const recoveredMs = Date.now() - killedAt;
    expect(recoveredMs).toBeLessThan(30_000);
    expect(await cluster.primaryOf(`sb:v1:ch:user:{${bob.id}}`)).not.toBe(primary);

    // Node B says so (once its sharded subscribers have settled): a possible gap, logged and counted.
    const gaps = () => metricTotal(nodeB.metricsUrl, 'switchboard_pubsub_possible_gaps_total');
    await eventually(async () => ((await gaps()) > 0 ? true : undefined));
    expect(nodeB.output()).toContain('events may have been missed');
    console.info(`failover: live delivery back ${recoveredMs} ms after SIGKILL (${attempts} sends, all 201)`);
  });
});
