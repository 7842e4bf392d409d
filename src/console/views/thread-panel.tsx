import type { Message } from '../../client/index.js';
import { useChat } from '../use-chat.js';
import { Composer } from './composer.js';
import { MessageItem } from './message-item.js';

/** A thread: its root, its replies, and a box to reply in it. */
export function ThreadPanel({ root }: { root: Message }) {
  const { chat, state } = useChat();
  const replies = state.threads[root.id] ?? [];
  return (
    <aside class="thread" aria-label="Thread">
      <header>
        <h3>Thread</h3>
        <button type="button" onClick={() => void chat.openThread(undefined)} aria-label="Close thread">
          ×
        </button>
      </header>
      <div class="messages" role="log" aria-live="polite" aria-label="Thread replies">
        <ol>
          <MessageItem message={root} />
          {replies.map((m) => (
            <MessageItem key={m.id} message={m} />
          ))}
        </ol>
      </div>
      <Composer
        label="Reply in thread"
        onSend={(content) => chat.send(root.conversationId, content, { threadId: root.id })}
      />
    </aside>
  );
}
