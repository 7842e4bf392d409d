import { threadWindowOf } from '../../domain/threads.js';
import type { Message, ThreadSummary } from '../../domain/types.js';
import type { ThreadRepository } from '../../store/threads.js';
import type { ThreadSummariesCache } from '../ports.js';

/**
 * The `thread` summary of the messages a read returns (history pages, the inbox's last message,
 * a retried send, a thread's root): one read per fixed window they span (cql/0015_threads.cql),
 * from the summaries cache when there is one (a warm first page costs no Cassandra query; its
 * summaries are then at most T old, the cache's bound), else `root_id IN` the ids from Cassandra.
 */
export function createThreadSummaries(deps: {
  threads: Pick<ThreadRepository, 'summariesOf' | 'summariesInWindow'>;
  threadsCache?: ThreadSummariesCache | undefined;
}) {
  const { threads, threadsCache } = deps;

  async function summariesOf(conversationId: string, ids: string[], fresh: boolean) {
    if (!threadsCache || fresh) return threads.summariesOf(conversationId, ids);
    const windows = [...new Set(ids.map(threadWindowOf))];
    const found = new Map<string, ThreadSummary>();
    for (const window of await Promise.all(
      windows.map((w) => threadsCache.getOrLoad(conversationId, w, () => threads.summariesInWindow(conversationId, w))),
    )) {
      for (const [id, summary] of window) found.set(id, summary);
    }
    return found;
  }

  return {
    /** `fresh`: read Cassandra even with a cache (the summary a `message.updated` event carries). */
    async attach(conversationId: string, messages: Message[], options: { fresh?: boolean } = {}): Promise<Message[]> {
      if (messages.length === 0) return [];
      // A set: a history answer attaches its page and its updates together, and one message can be in both.
      const roots = [...new Set(messages.filter((message) => !message.threadId).map((message) => message.id))];
      if (roots.length === 0) return messages.map((message) => ({ ...message, thread: null }));
      const summaries = await summariesOf(conversationId, roots, options.fresh === true);
      return messages.map((message) => ({ ...message, thread: summaries.get(message.id) ?? null }));
    },
  };
}

export type ThreadSummaries = ReturnType<typeof createThreadSummaries>;
