import { useState } from 'preact/hooks';
import type { Message } from '../../client/index.js';
import { ticksOf } from '../timeline.js';
import { useChat } from '../use-chat.js';

const EMOJI = ['👍', '❤️', '😂'];
const TICKS = { sent: '✓', delivered: '✓✓', read: '✓✓' } as const;

/** One message: who, what, the one it answers, reactions, ticks (yours), and its actions. */
export function MessageItem({ message: m, onReply }: { message: Message; onReply?: (m: Message) => void }) {
  const { chat, state } = useChat();
  const [editing, setEditing] = useState(false);
  const mine = m.senderId === state.me?.id;
  const deleted = m.deletedAt !== null;
  const list = state.messages[m.conversationId] ?? [];
  const answered = m.replyToId ? list.find((x) => x.id === m.replyToId) : undefined;
  const members = m.groupId ? state.members[m.groupId] : undefined;
  const myRole = members?.find((x) => x.userId === state.me?.id)?.role;
  const mayDelete = mine || myRole === 'owner' || myRole === 'admin';

  function saveEdit(event: Event) {
    event.preventDefault();
    const content = String(new FormData(event.currentTarget as HTMLFormElement).get('content') ?? '').trim();
    if (content) void chat.edit(m, content).then(() => setEditing(false));
  }

  return (
    <li class={`message ${mine ? 'mine' : ''}`} aria-label={`Message from ${state.names[m.senderId] ?? 'someone'}`}>
      <span class="sender">{state.names[m.senderId] ?? '…'}</span>
      {m.replyToId && <blockquote class="quote">{answered?.content ?? 'an earlier message'}</blockquote>}
      {editing ? (
        <form onSubmit={saveEdit} aria-label="Edit message">
          <label class="visually-hidden" for={`edit-${m.id}`}>
            New text
          </label>
          <input id={`edit-${m.id}`} name="content" defaultValue={m.content ?? ''} required />
          <button type="submit">Save</button>
          <button type="button" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </form>
      ) : (
        <p class={`content ${deleted ? 'deleted' : ''}`}>
          {deleted ? 'Message deleted' : m.content}
          {m.editedAt && !deleted && <span class="edited"> (edited)</span>}
        </p>
      )}
      {m.reactions.length > 0 && (
        <ul class="reactions" aria-label="Reactions">
          {m.reactions.map((r) => (
            <li key={r.emoji}>
              <button type="button" aria-pressed={r.me} onClick={() => void chat.react(m, r.emoji)}>
                {r.emoji} {r.count}
              </button>
            </li>
          ))}
        </ul>
      )}
      <footer>
        <time dateTime={m.createdAt}>{new Date(m.createdAt).toLocaleTimeString([], { timeStyle: 'short' })}</time>
        {mine && <Ticks message={m} />}
        {m.thread && !m.threadId && (
          <button type="button" class="link" onClick={() => void chat.openThread(m)}>
            {m.thread.replyCount} {m.thread.replyCount === 1 ? 'reply' : 'replies'}
          </button>
        )}
      </footer>
      {!deleted && (
        <div class="actions">
          {EMOJI.map((emoji) => (
            <button key={emoji} type="button" aria-label={`React ${emoji}`} onClick={() => void chat.react(m, emoji)}>
              {emoji}
            </button>
          ))}
          {onReply && (
            <button type="button" onClick={() => onReply(m)}>
              Reply
            </button>
          )}
          {!m.threadId && (
            <button type="button" onClick={() => void chat.openThread(m)}>
              Thread
            </button>
          )}
          {mine && (
            <button type="button" onClick={() => setEditing(true)}>
              Edit
            </button>
          )}
          {mayDelete && (
            <button type="button" onClick={() => void chat.remove(m)}>
              Delete
            </button>
          )}
        </div>
      )}
    </li>
  );
}

function Ticks({ message }: { message: Message }) {
  const { state } = useChat();
  const receipts = state.receipts[message.conversationId] ?? new Map();
  const others = message.groupId
    ? (state.members[message.groupId] ?? []).map((m) => m.userId)
    : [message.receiverId ?? ''];
  const tick = ticksOf(message, receipts, others);
  return (
    <span class={`ticks ${tick}`} role="img" aria-label={tick} title={tick}>
      {TICKS[tick]}
    </span>
  );
}
