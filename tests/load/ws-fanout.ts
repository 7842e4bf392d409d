/**
 * WebSocket fan-out, the k6 twin of the Node harness's fan-out scenario: CLIENTS connected users,
 * user i on node i mod n (give two nodes in BASE_URLS), partners i and i xor 1 sending each other
 * one-to-one messages at RATE messages/s in total, then one owner sending GROUP_MESSAGES to a
 * GROUP_SIZE-member group. Latency: from just before the POST to `message.created` at the other
 * participant (the send time travels in the message body, so all VUs must share one clock: run on
 * one machine).
 *
 *   k6 run -e BASE_URLS=http://localhost:3000,http://localhost:3001 -e CLIENTS=1000 tests/load/ws-fanout.ts
 *
 * Rate limits: start the API nodes with RATE_LIMIT_ENABLED=false (docs/security.md). Set-up registers
 * hundreds of users and every virtual user comes from one address, which REGISTER_IP_LIMIT and
 * REST_IP_LIMIT would refuse with 429; these scripts measure capacity, not the limits.
 */
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { clearInterval, setInterval, setTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';
import {
  type Conversation,
  createGroup,
  envInt,
  messageContent,
  nodeUrl,
  registerUsers,
  sendMessage,
  type User,
  wsUrl,
} from './lib.ts';

const CLIENTS = envInt('CLIENTS', 200) - (envInt('CLIENTS', 200) % 2);
const GROUP_SIZE = Math.min(envInt('GROUP_SIZE', 100), CLIENTS);
const RATE = envInt('RATE', 100);
const SECONDS = envInt('SECONDS', 30);
const GROUP_MESSAGES = envInt('GROUP_MESSAGES', 20);
/** Time every client gets to connect before anyone sends. */
const CONNECT_SECONDS = envInt('CONNECT_SECONDS', 10);
const DRAIN_SECONDS = 10;

export const options: Options = {
  setupTimeout: '20m',
  scenarios: {
    clients: {
      executor: 'per-vu-iterations',
      vus: CLIENTS,
      iterations: 1,
      maxDuration: `${CONNECT_SECONDS + SECONDS + GROUP_MESSAGES + DRAIN_SECONDS + 60}s`,
    },
  },
  thresholds: {
    // The target: POST → delivery p99 < 50 ms with 1,000 clients over two nodes.
    'delivery_latency{kind:direct}': ['p(99)<50'],
    'delivery_latency{kind:group}': ['p(99)<1000'],
    checks: ['rate>0.99'],
    ws_errors: ['count<1'],
  },
};

const latency = new Trend('delivery_latency', true);
const deliveries = new Counter('deliveries');
const wsErrors = new Counter('ws_errors');

interface SetupData {
  users: User[];
  group: Conversation;
}

/** Registers CLIENTS users and creates the group, through the API, before anyone connects. */
export function setup(): SetupData {
  const users = registerUsers(CLIENTS, 'fan');
  return { users, group: createGroup(users.slice(0, GROUP_SIZE), 'fan-out group') };
}

export default function (data: SetupData) {
  const index = exec.vu.idInTest - 1;
  const me = data.users[index] as User;
  const partner = data.users[index ^ 1] as User;
  const base = nodeUrl(index);
  const direct: Conversation = { id: '', kind: 'direct', memberIds: [me.id, partner.id] };
  const ws = new WebSocket(wsUrl(base, me.token));

  ws.onmessage = (event) => {
    const frame = JSON.parse(String(event?.data)) as {
      type: string;
      data?: { message?: { senderId: string; content: string } };
    };
    const message = frame.type === 'message.created' ? frame.data?.message : undefined;
    if (!message || message.senderId === me.id) return;
    const [tag, sentAt] = message.content.split(' ');
    if (tag !== 'fanout' && tag !== 'group') return;
    const kind = tag === 'fanout' ? 'direct' : 'group';
    latency.add(Date.now() - Number(sentAt), { kind });
    deliveries.add(1, { kind });
  };

  ws.onopen = () => {
    // Every client sends one-to-one messages every CLIENTS / RATE seconds, phase-shifted by index,
    // so the total is RATE messages per second.
    const intervalMs = (CLIENTS / RATE) * 1000;
    setTimeout(
      () => {
        const timer = setInterval(() => {
          sendMessage(base, me, direct, messageContent(`fanout ${Date.now()}`));
        }, intervalMs);
        setTimeout(() => clearInterval(timer), SECONDS * 1000);
      },
      CONNECT_SECONDS * 1000 + (index * intervalMs) / CLIENTS,
    );

    if (index === 0) {
      // Then the group owner sends to the whole group, one message a second.
      setTimeout(
        () => {
          let sent = 0;
          const timer = setInterval(() => {
            sendMessage(base, me, data.group, messageContent(`group ${Date.now()}`));
            if (++sent >= GROUP_MESSAGES) clearInterval(timer);
          }, 1000);
        },
        (CONNECT_SECONDS + SECONDS + 2) * 1000,
      );
    }
    setTimeout(() => ws.close(), (CONNECT_SECONDS + SECONDS + GROUP_MESSAGES + DRAIN_SECONDS) * 1000);
  };
  ws.onerror = () => wsErrors.add(1);
}
