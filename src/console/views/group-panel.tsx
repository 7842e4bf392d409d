import type { GroupMember } from '../../client/index.js';
import { useChat } from '../use-chat.js';
import { PresenceDot } from './presence-dot.js';

/**
 * A group's members with their roles. The owner changes roles (admin ⇄ member, or hands over
 * ownership); owner and admins add and remove members; anyone may leave (src/domain/group-roles.ts).
 */
export function GroupPanel({ groupId }: { groupId: string }) {
  const { chat, state } = useChat();
  const members = state.members[groupId] ?? [];
  const me = state.me?.id;
  const myRole = members.find((m) => m.userId === me)?.role;
  const manages = myRole === 'owner' || myRole === 'admin';

  function add(event: Event) {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const who = String(new FormData(form).get('who') ?? '').trim();
    if (who) void chat.addMember(groupId, who).then(() => form.reset());
  }

  return (
    <section class="members" aria-label="Members">
      <ul>
        {members.map((m) => (
          <MemberRow key={m.userId} groupId={groupId} member={m} me={me} myRole={myRole} />
        ))}
      </ul>
      {manages && (
        <form onSubmit={add} aria-label="Add a member">
          <label>
            Add member by username
            <input name="who" required autoComplete="off" autoCapitalize="none" />
          </label>
          <button type="submit">Add</button>
        </form>
      )}
      {me && myRole !== 'owner' && (
        <button type="button" onClick={() => void chat.removeMember(groupId, me)}>
          Leave group
        </button>
      )}
    </section>
  );
}

function MemberRow(props: {
  groupId: string;
  member: GroupMember;
  me?: string | undefined;
  myRole?: string | undefined;
}) {
  const { chat, state } = useChat();
  const { groupId, member: m, me, myRole } = props;
  const name = state.names[m.userId] ?? m.userId;
  const removable =
    m.userId !== me && m.role !== 'owner' && (myRole === 'owner' || (myRole === 'admin' && m.role === 'member'));
  return (
    <li aria-label={`${name}, ${m.role}`}>
      <PresenceDot userId={m.userId} />
      <span>{name}</span> <span class="role">{m.role}</span>
      {myRole === 'owner' && m.userId !== me && (
        <button
          type="button"
          onClick={() => void chat.setRole(groupId, m.userId, m.role === 'admin' ? 'member' : 'admin')}
        >
          {m.role === 'admin' ? `Demote ${name}` : `Promote ${name}`}
        </button>
      )}
      {removable && (
        <button type="button" onClick={() => void chat.removeMember(groupId, m.userId)}>
          Remove {name}
        </button>
      )}
    </li>
  );
}
