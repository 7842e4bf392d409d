import { apiClient, registerUser, type TestUser } from '../../support/api.js';
import { type Answer, call, outcomeOf, SyncClient } from './sync-client.js';
import { sleep } from './topology.js';

/** One request of the load: when it started, how long it took, how it ended. */
export interface Attempt {
  at: number;
  ms: number;
  outcome: string;
  ok: boolean;
}

export interface Acknowledged {
  key: string;
  id: string;
  /** When it was acknowledged. */
  at: number;
  /** The WebSocket clients (receivers) that must end up with it. */
  recipients: string[];
}

export interface LoadOptions {
  senders?: number;
  receivers?: number;
  /** Pause between one sender's messages. */
  pauseMs?: number;
  /** History readers (inbox + a conversation's newest page, in a loop). */
  readers?: number;
}

/** Retried sends give up after this long: longer than any outage here (two nodes down lasted up to ~3 min when a restart needed a second try). */
const GIVE_UP_MS = 300_000;

/**
 * Steady load through the balancer, as clients are told to behave (README, docs/api.md):
 * - senders to one-to-one conversations and a group, each message with its idempotency key
 *   (`clientMessageId`), retried with the same key and payload after a 5xx, a 429 or a network error
 *   until it is acknowledged (201, or 200 for a retry of a stored one);
 * - WebSocket clients (the receivers) following the documented sync loop;
 * - history readers.
 * Every request is recorded; the figures are computed from the records (figures.ts).
 */
export async function startLoad(balancer: string, options: LoadOptions = {}) {
  const api = apiClient(balancer);
  const run = Math.random().toString(36).slice(2, 8);
  const receivers = await Promise.all(
    Array.from({ length: options.receivers ?? 4 }, () => registerUser(api, 'chaos_rx')),
  );
  const senders = await Promise.all(Array.from({ length: options.senders ?? 4 }, () => registerUser(api, 'chaos_tx')));
  const group = await api.post('/api/v1/groups', { name: `chaos ${run}` }, senders[0]?.token);
  if (group.status !== 201) throw new Error(`group create answered ${group.status}`);
  const groupId: string = group.body.group.id;
  for (const user of [...receivers, ...senders.slice(1)]) {
    const added = await api.post(`/api/v1/groups/${groupId}/members`, { userId: user.id }, senders[0]?.token);
    if (added.status !== 201) throw new Error(`member add answered ${added.status}`);
  }

  const sends: Attempt[] = [];
  const reads: Attempt[] = [];
  const acknowledged = new Map<string, Acknowledged>();
  /** Keys acknowledged twice with different ids: a retry that stored a second copy. */
  const duplicateAcks: string[] = [];
  /** Keys given up on, and answers no retry can fix (4xx other than 429): both are bugs here. */
  const abandoned: string[] = [];
  const unexpected: string[] = [];
  const record = (into: Attempt[], at: number, answer: Answer, ok: boolean) =>
    into.push({ at, ms: answer.ms, outcome: outcomeOf(answer), ok });

  let stopping = false;
  async function sendUntilAcknowledged(sender: TestUser, key: string, target: object, recipients: string[]) {
    const firstTry = Date.now();
    for (;;) {
      const at = Date.now();
      const answer = await call(balancer, 'POST', '/api/v1/messages', sender.token, {
        ...target,
        // The same payload every time: a retry with another payload is a 409, by design.
        content: `chaos ${key}`,
        clientMessageId: key,
      });
      const ok = answer.status === 201 || answer.status === 200;
      record(sends, at, answer, ok);
      if (ok) {
        const id: string = answer.body.message.id;
        const earlier = acknowledged.get(key);
        if (earlier && earlier.id !== id) duplicateAcks.push(key);
        acknowledged.set(key, { key, id, at: Date.now(), recipients });
        return;
      }
      if (answer.status !== undefined && answer.status < 500 && answer.status !== 429) {
        unexpected.push(`${key}: ${outcomeOf(answer)} ${JSON.stringify(answer.body)}`);
        return;
      }
      if (Date.now() - firstTry > GIVE_UP_MS) {
        abandoned.push(key);
        return;
      }
      await sleep(200 + Math.random() * 300);
    }
  }
  async function runSender(sender: TestUser, index: number) {
    for (let n = 0; !stopping; n++) {
      const key = `${run}-${index}-${n}`;
      if (Math.random() < 0.5) {
        const receiver = receivers[Math.floor(Math.random() * receivers.length)] as TestUser;
        await sendUntilAcknowledged(sender, key, { receiverId: receiver.id }, [receiver.id]);
      } else {
        await sendUntilAcknowledged(
          sender,
          key,
          { groupId },
          receivers.map((r) => r.id),
        );
      }
      await sleep((options.pauseMs ?? 150) * (0.5 + Math.random()));
    }
  }
  async function runReader(index: number) {
    const reader = receivers[index % receivers.length] as TestUser;
    while (!stopping) {
      const at = Date.now();
      const inbox = await call(balancer, 'GET', '/api/v1/conversations?limit=20', reader.token);
      record(reads, at, inbox, inbox.status === 200);
      const first = inbox.status === 200 ? inbox.body.conversations[0]?.id : undefined;
      if (first) {
        const at2 = Date.now();
        const page = await call(balancer, 'GET', `/api/v1/messages?conversationId=${first}&limit=50`, reader.token);
        record(reads, at2, page, page.status === 200);
      }
      await sleep(250);
    }
  }

  const clients = receivers.map((user) => new SyncClient(balancer, user));
  for (const client of clients) client.start();
  const started = Date.now();
  const loops = [
    ...senders.map((sender, index) => runSender(sender, index)),
    ...Array.from({ length: options.readers ?? 2 }, (_, index) => runReader(index)),
  ];

  /** The ids each client must hold: every acknowledged message addressed to it. */
  const owed = (client: SyncClient) =>
    [...acknowledged.values()].filter((ack) => ack.recipients.includes(client.user.id)).map((ack) => ack.id);
  const complete = (client: SyncClient) => owed(client).every((id) => client.received.has(id));

  return {
    started,
    receivers,
    clients,
    sends,
    reads,
    acknowledged,
    duplicateAcks,
    abandoned,
    unexpected,
    owed,
    complete,
    /** Stops the senders and readers; a message being retried is retried until acknowledged first. */
    async stopSending() {
      stopping = true;
      await Promise.all(loops);
      return Date.now();
    },
    /** Waits (bounded) until every client holds everything owed to it, through its own loop only. */
    async settle(timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline && !clients.every(complete)) await sleep(250);
      return clients.filter(complete).length;
    },
    async stopClients() {
      await Promise.all(clients.map((client) => client.stop()));
    },
  };
}

export type Load = Awaited<ReturnType<typeof startLoad>>;
