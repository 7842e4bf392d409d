import { useChat } from '../use-chat.js';

/**
 * Start a one-to-one chat or a group. By user id: the API has no lookup by username
 * (src/console/README.md); each user sees their own id at the top of the inbox.
 */
export function NewChat() {
  const { chat } = useChat();

  function direct(event: Event) {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const userId = String(new FormData(form).get('userId') ?? '').trim();
    if (userId) void chat.startDirect(userId).then(() => done(form));
  }

  function group(event: Event) {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const name = String(data.get('name') ?? '').trim();
    const memberIds = String(data.get('memberIds') ?? '')
      .split(/[\s,]+/)
      .filter(Boolean);
    if (name) void chat.createGroup(name, memberIds).then(() => done(form));
  }

  return (
    <details class="new-chat">
      <summary>New chat</summary>
      <form onSubmit={direct} aria-label="Start a direct chat">
        <label>
          User id
          <input name="userId" required pattern="[0-9A-HJKMNP-TV-Z]{26}" title="A 26-character user id" />
        </label>
        <button type="submit">Start chat</button>
      </form>
      <form onSubmit={group} aria-label="Create a group">
        <label>
          Group name
          <input name="name" required maxLength={100} />
        </label>
        <label>
          Member ids (comma separated)
          <input name="memberIds" />
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
