import { useState } from 'preact/hooks';
import { SwitchboardError } from '../../client/index.js';
import { useChat } from '../use-chat.js';

/** Sign in, or create an account (the same form; the button says which). */
export function SignIn() {
  const { chat, state } = useChat();
  const [mode, setMode] = useState<'sign-in' | 'sign-up'>('sign-in');
  const [error, setError] = useState<string | undefined>(state.error);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const username = String(form.get('username') ?? '');
    const password = String(form.get('password') ?? '');
    setBusy(true);
    setError(undefined);
    try {
      if (mode === 'sign-up') await chat.register(username, password, String(form.get('displayName') ?? ''));
      else await chat.login(username, password);
    } catch (failure) {
      setError(failure instanceof SwitchboardError ? describe(failure) : String(failure));
      setBusy(false);
    }
  }

  const title = mode === 'sign-in' ? 'Sign in' : 'Create an account';
  return (
    <main class="sign-in">
      <h1>Switchboard</h1>
      <form onSubmit={submit} aria-label={title}>
        <h2>{title}</h2>
        <label>
          Username
          <input name="username" autoComplete="username" required />
        </label>
        {mode === 'sign-up' && (
          <label>
            Display name (optional)
            <input name="displayName" autoComplete="name" />
          </label>
        )}
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete={mode === 'sign-in' ? 'current-password' : 'new-password'}
            required
          />
        </label>
        {error && <p role="alert">{error}</p>}
        <button type="submit" disabled={busy}>
          {title}
        </button>
      </form>
      <button type="button" class="link" onClick={() => setMode(mode === 'sign-in' ? 'sign-up' : 'sign-in')}>
        {mode === 'sign-in' ? 'No account yet? Create one' : 'Have an account? Sign in'}
      </button>
    </main>
  );
}

function describe(error: SwitchboardError): string {
  const issues = error.issues?.map((issue) => issue.message).join('; ');
  return issues ? `${error.detail}: ${issues}` : error.detail;
}
