import type { Conversation } from '../../client/index.js';
import { useChat } from '../use-chat.js';
import { NewChat } from './new-chat.js';
import { PresenceDot } from './presence-dot.js';

/** The conversations, newest activity first, with unread badges and the last message. */
export function Inbox() {
  const { chat, state } = useChat();
  const me = state.me;
  if (!me) return null;
  return (
    <nav class="inbox" aria-label="Conversations">
      <header>
        <div>
          <strong>{state.names[me.id] ?? me.username}</strong>
          <span class={`connection ${state.connection}`}>{state.connection}</span>
        </div>
        <button type="button" onClick={() => void chat.signOut()}>
          Sign out
        </button>
      </header>
      <p class="my-id">
        Your id: <code>{me.id}</code>
      </p>
      <NewChat />
      {state.error && !state.openId && (
        <p role="alert" class="error">
          {state.error}
        </p>
      )}
      <ul>
        {state.conversations.map((c) => (
          <InboxRow key={c.id} conversation={c} open={c.id === state.openId} />
        ))}
      </ul>
    </nav>
  );
}

function InboxRow({ conversation: c, open }: { conversation: Conversation; open: boolean }) {
  const { state } = useChat();
  const title = titleOf(c, state.names);
  const last = c.lastMessage;
  const preview = last ? (last.deletedAt ? 'Message deleted' : (last.content ?? '')) : 'No messages yet';
  const unread = c.unreadCount > 0 ? `${c.unreadCount}${c.unreadCountCapped ? '+' : ''}` : '';
  return (
    <li>
      <a href={`#/c/${c.id}`} aria-current={open ? 'page' : undefined} class="row">
        {c.peerId && <PresenceDot userId={c.peerId} />}
        <span class="title">{title}</span>
        {unread && (
          <span class="badge">
            {unread}
            <span class="visually-hidden"> unread</span>
          </span>
        )}
        <span class="preview">{preview}</span>
      </a>
    </li>
  );
}

export function titleOf(c: Conversation, names: Record<string, string>): string {
  if (c.kind === 'group') return c.name ?? 'Group';
  return (c.peerId && names[c.peerId]) || 'Direct chat';
}
