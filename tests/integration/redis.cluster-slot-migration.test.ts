import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser } from '../support/api.js';
import { TEST_REDIS_CLUSTER } from '../support/env.js';
import { type RedisClusterChild, startRedisCluster } from '../support/redis-cluster.js';
import { metricTotal, type ServerProcess, startServerProcess } from '../support/server.js';
import { connectWs, eventually, sendUntilLive, type TestSocket } from '../support/ws-client.js';

/**
 * A slot migration under a node (what `redis-cli --cluster reshard` or a rebalance does): the
 * slot of a connected user's channel moves to another primary. The old primary then pushes a
 * SUNSUBSCRIBE for that channel to the node's sharded subscriber, and events published on the
 * new primary reach nobody until the node subscribes there. The node must subscribe again on
 * the new owner (live delivery resumes, sends answer 201 throughout) and report a possible gap
 * (switchboard_pubsub_possible_gaps_total, the onPossibleGap hook), because whatever was
 * published between the move and the resubscription was lost for its sockets.
 *
 * On a private cluster of its own (the migration changes the slot map). Only meaningful on a
 * Redis Cluster: on one Redis there are no slots to move, so it runs in the cluster pass of
 * docker/native/test.sh (TEST_REDIS_TOPOLOGY=cluster) and is skipped otherwise.
 */
let cluster: RedisClusterChild;
let node: ServerProcess;
let api: ApiClient;
const sockets: TestSocket[] = [];

describe.runIf(TEST_REDIS_CLUSTER)('Redis Cluster slot migration', () => {
  beforeAll(async () => {
    cluster = await startRedisCluster();
    node = await startServerProcess({ NODE_ID: 'migration', REDIS_CLUSTER_NODES: cluster.nodes, LOG_LEVEL: 'warn' });
    api = apiClient(node.url);
  });

  afterAll(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await node?.stop('SIGTERM');
    await cluster?.close();
  });

  it("subscribes again on the slot's new primary, delivers live again, and reports the moved channel as a possible gap", async () => {
    const [alice, bob, carol] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    const bobChannel = `sb:v1:ch:user:{${bob.id}}`;
    // Carol is connected to the same node on a channel of a slot that does not move: no gap for her.
    expect(await cluster.admin.cluster('KEYSLOT', `sb:v1:ch:user:{${carol.id}}`)).not.toBe(
      await cluster.admin.cluster('KEYSLOT', bobChannel),
    );
    const [bobSocket, carolSocket] = await Promise.all([
      connectWs(node.url, bob.token),
      connectWs(node.url, carol.token),
    ]);
    sockets.push(bobSocket, carolSocket);
    const subscribersOn = (address: string) => cluster.shardSubscribers(address, bobChannel);
    const slotMovedGaps = () => metricTotal(node.metricsUrl, 'switchboard_pubsub_possible_gaps_total', 'slot moved');

    const before = await api.post('/api/v1/messages', { receiverId: bob.id, content: 'before' }, alice.token);
    expect(before.status).toBe(201);
    await bobSocket.waitFor('message.created', (data) => data.message.id === before.body.message.id, 5000);
    expect(await metricTotal(node.metricsUrl, 'switchboard_pubsub_possible_gaps_total')).toBe(0);

    const slot = Number(await cluster.admin.cluster('KEYSLOT', bobChannel));
    const first = await cluster.primaryOf(bobChannel);
    const second = (await cluster.primaries()).find((address) => address !== first) as string;
    // There and back again: the second move finds no state left over from the first.
    for (const [round, [from, to]] of [
      [first, second],
      [second, first],
    ].entries()) {
      expect(await subscribersOn(from as string)).toBe(1);
      await cluster.migrateSlot(slot, to as string);
      const movedAt = Date.now();
      expect(await cluster.primaryOf(bobChannel)).toBe(to);

      // Sends never fail because of Redis; delivery resumes once the node subscribed on the new owner.
      const { delivered, attempts } = await sendUntilLive(api, alice, bob, bobSocket, {
        withinMs: 20_000,
        label: `after move ${round + 1}`,
      });
      if (!delivered) console.error(`the node's log:\n${node.output().slice(-6000)}`);
      expect(delivered).toBe(true);
      const recoveredMs = Date.now() - movedAt;
      // On the new owner, not left behind on the old one (which no longer carries the slot).
      expect(await subscribersOn(to as string)).toBe(1);
      expect(await subscribersOn(from as string)).toBe(0);

      // Whatever was published between the move and the resubscription may be lost: said, and counted.
      await eventually(async () => ((await slotMovedGaps()) === round + 1 ? true : undefined));
      console.info(
        `slot migration ${round + 1}: live delivery back ${recoveredMs} ms after the move (${attempts} sends, all 201)`,
      );
    }
    // Only Bob's channel moved, so only it was reported (a resync for Carol would be spurious).
    const reports = node
      .output()
      .split('\n')
      .filter((line) => line.includes('events may have been missed'))
      .map((line) => JSON.parse(line) as { reason: string; channels: number });
    expect(reports).toEqual([
      expect.objectContaining({ reason: 'slot moved', channels: 1 }),
      expect.objectContaining({ reason: 'slot moved', channels: 1 }),
    ]);
    expect(await metricTotal(node.metricsUrl, 'switchboard_pubsub_possible_gaps_total')).toBe(2);
  });
});
