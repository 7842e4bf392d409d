import { useState } from 'preact/hooks';
import type { Message } from '../../client/index.js';
import { useChat } from '../use-chat.js';
import { Composer } from './composer.js';
import { GroupPanel } from './group-panel.js';
import { titleOf } from './inbox.js';
import { MessageList } from './message-list.js';
import { PresenceDot } from './presence-dot.js';
import { ThreadPanel } from './thread-panel.js';

/** One conversation: header, history (scrolls up for older), typing line, composer, thread, members. */
export function ConversationView({ conversationId }: { conversationId: string }) {
  const { chat, state } = useChat();
  const [replyTo, setReplyTo] = useState<Message | undefined>();
  const [showMembers, setShowMembers] = useState(false);
  const c = state.conversations.find((x) => x.id === conversationId);
  if (!c) return <p class="empty">Loading conversation…</p>;
  const title = titleOf(c, state.names);
  const typing = chat.typingIn(conversationId).map((id) => state.names[id] ?? 'Someone');
  const root = state.threadRootId
    ? state.messages[conversationId]?.find((m) => m.id === state.threadRootId)
    : undefined;

  return (
    <main class="conversation" aria-label={`Conversation with ${title}`}>
      <header>
        <a href="#/" class="back" aria-label="Back to conversations">
          ←
        </a>
        {c.peerId && <PresenceDot userId={c.peerId} />}
        <h2>{title}</h2>
        {c.groupId && (
          <button type="button" aria-expanded={showMembers} onClick={() => setShowMembers(!showMembers)}>
            Members
          </button>
        )}
      </header>
      {state.error && (
        <p role="alert" class="error">
          {state.error}
        </p>
      )}
      {c.groupId && showMembers && <GroupPanel groupId={c.groupId} />}
      <MessageList conversationId={conversationId} onReply={setReplyTo} />
      <p class="typing" aria-live="polite">
        {typing.length > 0 ? `${typing.join(', ')} ${typing.length > 1 ? 'are' : 'is'} typing…` : ''}
      </p>
      <Composer
        label="Message"
        onType={() => chat.typing(conversationId)}
        onSend={(content) =>
          chat.send(conversationId, content, replyTo ? { replyToId: replyTo.id } : {}).then(() => setReplyTo(undefined))
        }
        replyTo={replyTo}
        onCancelReply={() => setReplyTo(undefined)}
      />
      {root && <ThreadPanel root={root} />}
    </main>
  );
}
