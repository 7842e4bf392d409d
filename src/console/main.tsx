import { render } from 'preact';
import { createClient, localStorageCursorStore, type Tokens } from '../client/index.js';
import { App } from './app.js';
import { createChat } from './chat.js';
import { ChatContext } from './use-chat.js';
import './styles.css';

/**
 * The console's entry: one SDK client for this origin, its tokens and sync cursors in
 * localStorage, so a reload resumes signed in and catches up from where it was.
 */
const TOKENS_KEY = 'switchboard:tokens';

function storedTokens(): Tokens | undefined {
  try {
    return (JSON.parse(localStorage.getItem(TOKENS_KEY) ?? 'null') as Tokens | null) ?? undefined;
  } catch {
    return undefined;
  }
}

const client = createClient({
  baseUrl: location.origin,
  tokens: storedTokens(),
  onTokens: (tokens) => {
    if (tokens) localStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
    else localStorage.removeItem(TOKENS_KEY);
  },
  cursorStore: localStorageCursorStore(),
});
const chat = createChat(client);
if (client.tokens()) void chat.start();

const root = document.getElementById('app');
if (root) {
  render(
    <ChatContext.Provider value={chat}>
      <App />
    </ChatContext.Provider>,
    root,
  );
}
