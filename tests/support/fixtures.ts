import type { Message as MessageJson } from '../../src/client/types.js';
import type { Message } from '../../src/domain/types.js';

/** Two fixed user ids and their one-to-one conversation, for unit tests that need no database. */
export const USER_A = '01JD3W6YQ7R5S3T2V1X0Z9Y8W7';
export const USER_B = '01JD3W7B1C2D3E4F5G6H7J8K9M';
export const DM_AB = `dm_${USER_A}_${USER_B}`;

/** A message from A to B, as the services hand it to the edges. */
export const directMessage = (overrides: Partial<Message> = {}): Message => ({
  id: USER_A,
  conversationId: DM_AB,
  senderId: USER_A,
  receiverId: USER_B,
  groupId: null,
  content: 'hi',
  createdAt: Date.UTC(2026, 0, 1),
  clientTimestamp: null,
  status: 'sent',
  ...overrides,
});

/** A message from A to B as the API answers it (the SDK's and the console's `Message`). */
export const messageJson = (id: string, overrides: Partial<MessageJson> = {}): MessageJson => ({
  id,
  conversationId: DM_AB,
  senderId: USER_A,
  receiverId: USER_B,
  groupId: null,
  content: `text ${id}`,
  createdAt: '2026-12-01T12:00:00.000Z',
  clientTimestamp: null,
  status: 'sent',
  editedAt: null,
  deletedAt: null,
  reactions: [],
  replyToId: null,
  threadId: null,
  thread: null,
  ...overrides,
});
