import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { bucketForMessage } from '../../src/domain/buckets.js';
import { directConversationId } from '../../src/domain/conversations.js';
import { idAt, newId, ulidTime } from '../../src/domain/ids.js';
import { createCassandraClient, createDb } from '../../src/store/client.js';
import { createMessageRepository } from '../../src/store/messages.js';
import { createRng } from './lib/prng.js';
import { BENCH_KEYSPACE, benchConfig, dropKeyspace, ensureServices, REPO, resetKeyspace } from './lib/stack.js';

/**
 * Bytes on disk per stored message, for the README's capacity estimate. Loads N messages of
 * ~100 characters through the repository into a bench keyspace, stops Cassandra (which drains
 * and flushes memtables to SSTables), sums the messages table's files, and starts it again.
 *
 *   node --import tsx tests/bench/storage-per-message.ts [count]   (default 200000)
 */
const keyspace = `${BENCH_KEYSPACE}_storage`;
const count = Number(process.argv[2] ?? 200_000);
const conversations = 2_000;
const DAY = 86_400_000;

function directorySize(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? directorySize(path) : statSync(path).size;
  }
  return total;
}

async function main() {
  ensureServices();
  await resetKeyspace(keyspace);
  const config = benchConfig(keyspace);
  const client = createCassandraClient(config.cassandra);
  await client.connect();
  const messages = createMessageRepository(createDb(client));
  const random = createRng(42);
  const pairs = Array.from({ length: conversations }, () => [newId(), newId()] as const);
  const start = Date.now() - 30 * DAY;
  // Random lowercase words: LZ4 barely compresses them, so this is a conservative figure (real
  // chat text, with its repeated words, compresses better).
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const word = () => Array.from({ length: 2 + random.int(8) }, () => random.pick([...letters])).join('');
  let written = 0;
  const worker = async () => {
    while (written < count) {
      const n = written++;
      const [a, b] = pairs[n % conversations] as readonly [string, string];
      const id = idAt(start + Math.floor((n / count) * 30 * DAY));
      let content = '';
      while (content.length < 100) content += `${word()} `;
      await messages.insert(
        {
          id,
          conversationId: directConversationId(a, b),
          senderId: a,
          receiverId: b,
          groupId: null,
          content: content.trim(),
          createdAt: ulidTime(id),
          clientTimestamp: null,
        },
        bucketForMessage(id, config.messages.bucketMs),
      );
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  // The table's folder is named after its id; a dropped earlier table leaves an empty folder.
  const table = await client.execute(
    'SELECT id FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?',
    [keyspace, 'messages'],
    { prepare: true },
  );
  const tableId = String(table.first()?.id ?? '').replaceAll('-', '');
  await client.shutdown();

  // A stop drains: memtables are flushed to SSTables, so the files hold every row.
  execFileSync('bash', ['docker/native/stack.sh', 'down', 'cassandra'], { cwd: REPO, stdio: 'inherit' });
  const dataDir = join(REPO, '.native/cassandra/data', keyspace);
  const bytes = directorySize(join(dataDir, `messages-${tableId}`));
  execFileSync('bash', ['docker/native/stack.sh', 'up', 'cassandra'], { cwd: REPO, stdio: 'inherit' });
  await dropKeyspace(keyspace);
  console.log(
    JSON.stringify({
      messages: count,
      conversations,
      contentChars: '~100',
      tableBytes: bytes,
      bytesPerMessage: Math.round(bytes / count),
    }),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
