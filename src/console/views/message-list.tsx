import { useLayoutEffect, useRef } from 'preact/hooks';
import type { Message } from '../../client/index.js';
import { useChat } from '../use-chat.js';
import { MessageItem } from './message-item.js';

/**
 * The history, oldest at the top. Scrolling to the top loads the page before it (infinite scroll
 * up) and keeps the reader's place; a new message scrolls down only if the reader was at the bottom.
 */
export function MessageList({ conversationId, onReply }: { conversationId: string; onReply: (m: Message) => void }) {
  const { chat, state } = useChat();
  const box = useRef<HTMLDivElement>(null);
  const fromBottom = useRef(0);
  const messages = chat.shown(conversationId);
  const older = state.older[conversationId];

  useLayoutEffect(() => {
    const el = box.current;
    if (el) el.scrollTop = el.scrollHeight - el.clientHeight - fromBottom.current;
  });

  function onScroll() {
    const el = box.current;
    if (!el) return;
    fromBottom.current = el.scrollHeight - el.clientHeight - el.scrollTop;
    if (el.scrollTop < 40 && older) void chat.loadOlder(conversationId);
  }

  return (
    <div class="messages" ref={box} onScroll={onScroll} role="log" aria-live="polite" aria-label="Messages">
      <ol>
        {older && (
          <li class="older">
            <button type="button" onClick={() => void chat.loadOlder(conversationId)}>
              Load older messages
            </button>
          </li>
        )}
        {messages.map((m) => (
          <MessageItem key={m.id} message={m} onReply={onReply} />
        ))}
      </ol>
    </div>
  );
}
