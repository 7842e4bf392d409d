import { useRef, useState } from 'preact/hooks';
import type { Message } from '../../client/index.js';

interface Props {
  label: string;
  onSend: (content: string) => Promise<unknown>;
  onType?: () => void;
  replyTo?: Message | undefined;
  onCancelReply?: () => void;
}

/** The text box and Send button (Enter sends); shows what a reply answers. */
export function Composer({ label, onSend, onType, replyTo, onCancelReply }: Props) {
  const [text, setText] = useState('');
  const input = useRef<HTMLInputElement>(null);

  async function submit(event: Event) {
    event.preventDefault();
    const content = text.trim();
    if (!content) return;
    setText('');
    await onSend(content);
    input.current?.focus();
  }

  return (
    <form class="composer" onSubmit={submit}>
      {replyTo && (
        <p class="replying">
          Replying to “{replyTo.content ?? 'a deleted message'}”
          <button type="button" onClick={onCancelReply} aria-label="Cancel reply">
            ×
          </button>
        </p>
      )}
      <label class="visually-hidden" for={`input-${label}`}>
        {label}
      </label>
      <input
        id={`input-${label}`}
        ref={input}
        value={text}
        maxLength={4000}
        autoComplete="off"
        onInput={(event) => {
          setText((event.currentTarget as HTMLInputElement).value);
          onType?.();
        }}
      />
      <button type="submit">Send</button>
    </form>
  );
}
