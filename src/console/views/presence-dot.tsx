import { useChat } from '../use-chat.js';

/** A dot for a user's presence, with its meaning as text for screen readers and tests. */
export function PresenceDot({ userId }: { userId: string }) {
  const { state } = useChat();
  // Our own: online while this page is connected (the server sends no presence of yourself).
  const online = userId === state.me?.id ? state.connection === 'live' : state.presence[userId]?.status === 'online';
  const label = online ? 'online' : 'offline';
  return <span class={`dot ${label}`} role="img" aria-label={label} title={label} />;
}
