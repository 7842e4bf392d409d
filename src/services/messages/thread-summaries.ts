import type { Message } from '../../domain/types.js';
import type { ThreadRepository } from '../../store/threads.js';

/**
 * The `thread` summary of the messages a read returns (history pages, the inbox's last message,
 * a retried send): read from thread_summaries for the main-history messages among them, one read
 * per fixed window they span (cql/0015_threads.cql). A cached first page pays this read too: a
 * summary read from Cassandra is never stale, where a cached one would lag by up to T.
 */
export function createThreadSummaries(deps: { threads: Pick<ThreadRepository, 'summariesOf'> }) {
  return {
    async attach(conversationId: string, messages: Message[]): Promise<Message[]> {
      if (messages.length === 0) return [];
      const roots = messages.filter((message) => !message.threadId).map((message) => message.id);
      if (roots.length === 0) return messages.map((message) => ({ ...message, thread: null }));
      const summaries = await deps.threads.summariesOf(conversationId, roots);
      return messages.map((message) => ({ ...message, thread: summaries.get(message.id) ?? null }));
    },
  };
}

export type ThreadSummaries = ReturnType<typeof createThreadSummaries>;
