import { useChat } from '../use-chat.js';

/** A dot for a user's presence, with its meaning as text for screen readers and tests. */
export function PresenceDot({ userId }: { userId: string }) {
  const { state } = useChat();
  const online = state.presence[userId]?.status === 'online';
  const label = online ? 'online' : 'offline';
  return <span class={`dot ${label}`} role="img" aria-label={label} title={label} />;
}
