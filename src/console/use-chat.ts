import { createContext } from 'preact';
import { useContext, useEffect, useReducer } from 'preact/hooks';
import type { Chat } from './chat.js';

export const ChatContext = createContext<Chat | undefined>(undefined);

/** The chat and its state; the calling component re-renders on every change. */
export function useChat() {
  const chat = useContext(ChatContext);
  if (!chat) throw new Error('useChat outside <ChatContext.Provider>');
  const [, rerender] = useReducer((n: number, _: undefined) => n + 1, 0);
  useEffect(() => chat.subscribe(() => rerender(undefined)), [chat]);
  return { chat, state: chat.state };
}
