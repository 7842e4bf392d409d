import { useEffect } from 'preact/hooks';
import { useChat } from './use-chat.js';
import { ConversationView } from './views/conversation.js';
import { Inbox } from './views/inbox.js';
import { SignIn } from './views/sign-in.js';

/** The open conversation lives in the URL fragment (#/c/<id>), so a reload reopens it. */
const openFromHash = () => /^#\/c\/(.+)$/.exec(location.hash)?.[1];

export function App() {
  const { chat, state } = useChat();
  // Not before the stored session's inbox is in: opening a conversation needs it.
  const signedIn = state.me !== undefined && !state.starting;

  useEffect(() => {
    if (!signedIn) return;
    const follow = () => void chat.open(openFromHash());
    follow();
    addEventListener('hashchange', follow);
    return () => removeEventListener('hashchange', follow);
  }, [chat, signedIn]);

  if (state.starting) return <p class="status">Loading…</p>;
  if (!signedIn) return <SignIn />;
  return (
    <div class={`shell ${state.openId ? 'has-open' : ''}`}>
      <Inbox />
      {state.openId ? <ConversationView conversationId={state.openId} /> : <p class="empty">Pick a conversation.</p>}
    </div>
  );
}
