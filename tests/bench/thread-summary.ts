import { bucketForMessage } from '../../src/domain/buckets.js';
import { directConversationId } from '../../src/domain/conversations.js';
import { idAt, newId } from '../../src/domain/ids.js';
import type { StoredMessage } from '../../src/domain/types.js';
import { createTrailingRuns } from '../../src/services/messages/trailing-runs.js';
import { createDb } from '../../src/store/client.js';
import { createThreadRepository } from '../../src/store/threads.js';
import { BENCH_KEYSPACE, connectCassandra, dropKeyspace, resetKeyspace } from './lib/stack.js';
import { summarize } from './lib/stats.js';

/**
 * What a thread reply's summary update costs (docs/data-model.md, "Threads"): the recount
 * (COUNT over the thread's buckets) plus the two summary writes, for threads of 1 to 5,000
 * replies, alone and at concurrency 32 (the send benchmark's); and the summaries read of a
 * 50-message history page. Needs Cassandra up; uses its own keyspace and drops it afterwards.
 *
 *   node --import tsx tests/bench/thread-summary.ts [rounds]   (default 200)
 */
const keyspace = `${BENCH_KEYSPACE}_threads`;
const rounds = Number(process.argv[2] ?? 200);
const BUCKET_MS = 10 * 24 * 3600 * 1000;
const SIZES = [1, 100, 1000, 5000];

async function timed(work: () => Promise<unknown>, count: number, concurrency: number): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < count) {
        const started = performance.now();
        await work();
        latencies.push(performance.now() - started);
      }
    }),
  );
  return latencies;
}

async function main() {
  await resetKeyspace(keyspace);
  const client = await connectCassandra(keyspace);
  const threads = createThreadRepository(createDb(client));
  const recounts = createTrailingRuns<void>();
  const conversationId = directConversationId(newId(), newId());
  const [senderId, receiverId] = conversationId.slice(3).split('_') as [string, string];
  const results: Record<string, unknown> = {};
  for (const size of SIZES) {
    const rootId = idAt(Date.now() - 3600_000);
    const start = Date.now() - 3000_000;
    for (let i = 0; i < size; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, size - i) }, (_, j) => {
          const id = idAt(start + (i + j) * 10);
          const reply: StoredMessage = {
            id,
            conversationId,
            senderId,
            receiverId,
            groupId: null,
            content: 'x'.repeat(100),
            createdAt: start + (i + j) * 10,
            clientTimestamp: null,
            threadId: rootId,
          };
          return threads.insert(reply, bucketForMessage(id, BUCKET_MS));
        }),
      );
    }
    const recount = async () => {
      const count = await threads.countReplies(conversationId, rootId);
      await threads.writeReplyCount(conversationId, rootId, count);
    };
    // As threads.ts does: the recount coalesced per root, the last reply written by every reply.
    const update = () =>
      Promise.all([recounts(rootId, recount), threads.writeLastReply(conversationId, rootId, newId())]);
    await timed(recount, 20, 1); // warm-up
    results[`replies=${size} concurrency=1`] = summarize(await timed(update, rounds, 1));
    results[`replies=${size} concurrency=32, uncoalesced`] = summarize(await timed(recount, rounds * 4, 32));
    results[`replies=${size} concurrency=32`] = summarize(await timed(update, rounds * 4, 32));
  }
  const pageIds = Array.from({ length: 50 }, (_, i) => idAt(Date.now() - 1000_000 + i * 1000));
  await threads.writeReplyCount(conversationId, pageIds[3] as string, 1);
  await threads.writeLastReply(conversationId, pageIds[3] as string, newId());
  const read = () => threads.summariesOf(conversationId, pageIds);
  await timed(read, 20, 1);
  results['summaries of a 50-message page, concurrency=1'] = summarize(await timed(read, rounds, 1));
  results['summaries of a 50-message page, concurrency=32'] = summarize(await timed(read, rounds * 4, 32));
  console.log(JSON.stringify(results, null, 2));
  await client.shutdown();
  await dropKeyspace(keyspace);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
