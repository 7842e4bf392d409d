import { useChat } from '../use-chat.js';

/** Start a one-to-one chat or a group, naming people by username (or user id). */
export function NewChat() {
  const { chat } = useChat();

  function direct(event: Event) {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const who = String(new FormData(form).get('who') ?? '').trim();
    if (who) void chat.startDirect(who).then(() => done(form));
  }

  function group(event: Event) {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const name = String(data.get('name') ?? '').trim();
    const members = String(data.get('members') ?? '')
      .split(/[\s,]+/)
      .filter(Boolean);
    if (name) void chat.createGroup(name, members).then(() => done(form));
  }

  return (
    <details class="new-chat">
      <summary>New chat</summary>
      <form onSubmit={direct} aria-label="Start a direct chat">
        <label>
          Their username
          <input name="who" required autoComplete="off" autoCapitalize="none" title="A username (or a user id)" />
        </label>
        <button type="submit">Start chat</button>
      </form>
      <form onSubmit={group} aria-label="Create a group">
        <label>
          Group name
          <input name="name" required maxLength={100} />
        </label>
        <label>
          Members (usernames, comma separated)
          <input name="members" autoComplete="off" autoCapitalize="none" />
        </label>
        <button type="submit">Create group</button>
      </form>
    </details>
  );
}

/** Clears the form and folds the panel away, so the conversation list is in view again. */
function done(form: HTMLFormElement) {
  form.reset();
  const panel = form.closest('details');
  if (panel) panel.open = false;
}
