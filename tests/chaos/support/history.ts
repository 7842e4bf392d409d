import cassandra from 'cassandra-driver';
import type { Load } from './load.js';
import { SyncClient } from './sync-client.js';
import { sleep, type Topology } from './topology.js';

/**
 * Every acknowledged message read back from history afterwards, by a fresh client per receiver
 * that pulls each of its conversations from the smallest id (catch-up pages, so it waits for the
 * stable position, which a SIGKILLed API node holds back until it is reaped). Duplicates are told
 * by content: each message's content names its idempotency key, so two stored ids with one
 * content are one send stored twice.
 */
export async function readBackHistory(balancer: string, load: Load, timeoutMs: number) {
  const started = Date.now();
  const expected = new Set([...load.acknowledged.values()].map((ack) => ack.id));
  const pulled = new Map<string, string>();
  for (;;) {
    pulled.clear();
    for (const user of load.receivers) {
      const reader = new SyncClient(balancer, user);
      if (!(await reader.catchUp())) continue;
      for (const [id, content] of reader.pulled) pulled.set(id, content);
    }
    const missing = [...expected].filter((id) => !pulled.has(id));
    if (missing.length === 0 || Date.now() - started > timeoutMs) {
      const idsByContent = new Map<string, number>();
      for (const content of pulled.values()) idsByContent.set(content, (idsByContent.get(content) ?? 0) + 1);
      const storedTwice = [...idsByContent.values()].filter((count) => count > 1).length;
      return { found: expected.size - missing.length, missing, storedTwice, waitedMs: Date.now() - started };
    }
    await sleep(1_000);
  }
}

/** Cassandra's NODE_LOCAL consistency (protocol code 11): the coordinator answers from its own data only. */
const NODE_LOCAL = 11;

/**
 * Which acknowledged messages each Cassandra node holds itself: a connection to that node alone
 * (whitelist) reads every message partition of the run at NODE_LOCAL, so no other replica can
 * answer for it (a read at ONE may be served by any replica). Needs the nodes' test flag
 * cassandra.enable_nodelocal_queries (docker/native/cluster.sh sets it). With RF 3 on 3 nodes,
 * every node is a replica of every partition (`nodetool getendpoints` lists all three).
 */
export async function missingPerReplica(topology: Topology, load: Load): Promise<Map<number, string[]>> {
  const everyHost = topology.cassandra.map((node) => `${node.host}:${node.cqlPort}`);
  const conversations = new Set<string>();
  for (const user of load.receivers) {
    const reader = new SyncClient(topology.balancer, user);
    await reader.catchUp();
    for (const id of reader.conversationIds()) conversations.add(id);
  }
  const expected = [...load.acknowledged.values()].map((ack) => ack.id);
  const connect = (hosts: string[]) =>
    new cassandra.Client({
      contactPoints: hosts,
      localDataCenter: 'datacenter1',
      keyspace: topology.keyspace,
      policies: {
        loadBalancing: new cassandra.policies.loadBalancing.WhiteListPolicy(
          new cassandra.policies.loadBalancing.DCAwareRoundRobinPolicy('datacenter1'),
          hosts,
        ),
      },
    });
  const all = connect(everyHost);
  const partitions: [string, Date][] = [];
  try {
    for (const conversationId of conversations) {
      const buckets = await all.execute(
        'SELECT bucket FROM conversation_buckets WHERE conversation_id = ?',
        [conversationId],
        { prepare: true, consistency: cassandra.types.consistencies.localQuorum },
      );
      for (const row of buckets.rows) partitions.push([conversationId, row.bucket]);
    }
  } finally {
    await all.shutdown();
  }
  const result = new Map<number, string[]>();
  for (const node of topology.cassandra) {
    const alone = connect([`${node.host}:${node.cqlPort}`]);
    const held = new Set<string>();
    try {
      for (const [conversationId, bucket] of partitions) {
        const rows = await alone.execute(
          'SELECT message_id FROM messages WHERE conversation_id = ? AND bucket = ?',
          [conversationId, bucket],
          { prepare: true, consistency: NODE_LOCAL, fetchSize: 10_000 },
        );
        for (const row of rows.rows) held.add(row.message_id);
      }
    } finally {
      await alone.shutdown();
    }
    result.set(
      node.n,
      expected.filter((id) => !held.has(id)),
    );
  }
  return result;
}
