import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueUsername } from '../support/api.js';
import {
  type ConsoleRig,
  chromiumAvailable,
  messageWith,
  SCREENSHOTS,
  send,
  shown,
  signUp,
  startConsoleRig,
  transferred,
} from '../support/browser.js';
import { PASSWORD, sdkUser } from '../support/sdk.js';

/**
 * The web console at /app in a real browser (Debian's chromium through playwright-core), against
 * a real API node, Cassandra and Redis: what a person does, checked on what the page shows.
 */
const available = chromiumAvailable();
let rig: ConsoleRig;
const contexts: BrowserContext[] = [];

async function newPage(viewport = { width: 1000, height: 720 }): Promise<Page> {
  const context = await rig.browser.newContext({ viewport });
  contexts.push(context);
  return context.newPage();
}

beforeAll(async () => {
  if (available) rig = await startConsoleRig();
});

afterAll(async () => {
  for (const context of contexts) await context.close();
  await rig?.close();
});

describe.skipIf(!available)('the web console', () => {
  it('two users chat: typing, presence, ticks, an edit and a reaction cross over, and a reload resumes', async () => {
    const adaName = uniqueUsername('ada');
    const bobName = uniqueUsername('bob');
    const ada = await newPage();
    const firstLoadStarted = Date.now();
    await signUp(ada, rig.url, adaName);
    const signUpMs = Date.now() - firstLoadStarted;
    // Bob is on a phone-width screen: one column, the inbox or a conversation.
    const bob = await newPage({ width: 375, height: 740 });
    await signUp(bob, rig.url, bobName);

    // Ada starts the chat by Bob's username and writes first.
    await ada.getByText('New chat').click();
    await ada.getByLabel('Their username').fill(bobName);
    await ada.getByRole('button', { name: 'Start chat' }).click();
    await shown(ada.getByRole('heading', { name: bobName }));
    await send(ada, 'hello bob');
    await shown(messageWith(ada, 'hello bob'));

    // Bob's inbox shows the conversation with its unread badge and the last message.
    const row = bob.getByRole('link', { name: new RegExp(`${adaName}.*1 unread.*hello bob`) });
    await shown(row);
    // Bob's client acked it on arrival: Ada's tick says delivered before Bob even opens it.
    await shown(messageWith(ada, 'hello bob').getByRole('img', { name: 'delivered' }));
    await row.click();
    await shown(messageWith(bob, 'hello bob'));
    // Opening it read it: Ada's tick turns to read, Bob's badge is gone.
    await shown(messageWith(ada, 'hello bob').getByRole('img', { name: 'read' }));

    // Each sees the other online.
    await shown(ada.getByRole('main').getByRole('img', { name: 'online' }));
    await shown(bob.getByRole('main').getByRole('img', { name: 'online' }));

    // Bob types: Ada sees it; Bob sends: Ada sees the message.
    await bob.getByRole('textbox', { name: 'Message', exact: true }).pressSequentially('hi a');
    await shown(ada.getByText(`${bobName} is typing…`));
    await bob.getByRole('textbox', { name: 'Message', exact: true }).pressSequentially('da');
    await bob.getByRole('button', { name: 'Send', exact: true }).click();
    await shown(messageWith(ada, 'hi ada'));

    // Ada edits her message: Bob sees the new text, marked edited.
    await messageWith(ada, 'hello bob').getByRole('button', { name: 'Edit' }).click();
    await ada.getByLabel('New text').fill('hello bob, edited');
    await ada.getByRole('button', { name: 'Save' }).click();
    await shown(messageWith(bob, 'hello bob, edited').getByText('(edited)'));

    // Bob reacts to it: Ada sees the count.
    await messageWith(bob, 'hello bob, edited').getByRole('button', { name: 'React 👍' }).click();
    await shown(messageWith(ada, 'hello bob, edited').getByRole('button', { name: '👍 1' }));
    await shown(messageWith(bob, 'hello bob, edited').getByRole('button', { name: '👍 1', pressed: true }));

    // Ada replies to Bob's message and opens a thread under her own.
    await messageWith(ada, 'hi ada').getByRole('button', { name: 'Reply' }).click();
    await send(ada, 'replying to you');
    await shown(messageWith(bob, 'replying to you').getByRole('blockquote').getByText('hi ada', { exact: true }));
    await messageWith(ada, 'hello bob, edited').getByRole('button', { name: 'Thread' }).click();
    const thread = ada.getByRole('complementary', { name: 'Thread' });
    await thread.getByRole('textbox', { name: 'Reply in thread' }).fill('a thread reply');
    await thread.getByRole('button', { name: 'Send' }).click();
    await shown(thread.getByRole('log').getByText('a thread reply'));
    await shown(messageWith(bob, 'hello bob, edited').getByRole('button', { name: '1 reply' }));
    await thread.getByRole('button', { name: 'Close thread' }).click();

    await ada.screenshot({ path: `${SCREENSHOTS}console-chat.png` });
    await bob.screenshot({ path: `${SCREENSHOTS}console-phone.png` });

    // A reload resumes: still signed in, the conversation open, its messages there.
    await bob.reload();
    await shown(bob.getByRole('heading', { name: adaName }));
    await shown(messageWith(bob, 'hello bob, edited'));
    await shown(messageWith(bob, 'replying to you'));
    expect(await bob.getByRole('button', { name: 'Sign in' }).count()).toBe(0);

    // First load of a signed-in user on a fresh browser profile (nothing cached): bytes and time.
    const state = await bob.context().storageState();
    const fresh = await rig.browser.newContext({ storageState: state, viewport: { width: 1000, height: 720 } });
    contexts.push(fresh);
    const page = await fresh.newPage();
    const started = Date.now();
    await page.goto(rig.url);
    await shown(page.getByRole('navigation', { name: 'Conversations' }));
    const inboxMs = Date.now() - started;
    const load = await transferred(page);
    console.log(
      `console first load: ${load.appBytes} B transferred for /app (page, script, styles) + ` +
        `${load.apiBytes} B of API calls, ${load.requests} requests; ` +
        `navigation to inbox visible ${inboxMs} ms (signed in, cold cache); sign-up to inbox ${signUpMs} ms`,
    );
  });

  it('a group: create it, add a member, the member gets the message, the owner promotes them', async () => {
    const ownerName = uniqueUsername('own');
    const memberName = uniqueUsername('mem');
    const owner = await newPage();
    await signUp(owner, rig.url, ownerName);
    const member = await newPage();
    await signUp(member, rig.url, memberName);

    await owner.getByText('New chat').click();
    await owner.getByLabel('Group name').fill('Launch crew');
    await owner.getByRole('button', { name: 'Create group' }).click();
    await shown(owner.getByRole('heading', { name: 'Launch crew' }));
    await owner.getByRole('button', { name: 'Members' }).click();
    await owner.getByLabel('Add member by username').fill(memberName);
    await owner.getByRole('button', { name: 'Add', exact: true }).click();
    const members = owner.getByRole('region', { name: 'Members' });
    await shown(members.getByRole('listitem', { name: `${memberName}, member` }));
    await send(owner, 'welcome aboard');

    await member.getByRole('link', { name: /Launch crew/ }).click();
    await shown(messageWith(member, 'welcome aboard'));

    await members.getByRole('button', { name: `Promote ${memberName}` }).click();
    await shown(members.getByRole('listitem', { name: `${memberName}, admin` }));
    await owner.screenshot({ path: `${SCREENSHOTS}console-group.png` });
  });

  it('signs out and in again, scrolls up through older history, and shows a deletion on the other side', async () => {
    const name = uniqueUsername('eve');
    const page = await newPage({ width: 375, height: 740 });
    const eveId = await signUp(page, rig.url, name);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Username', { exact: true }).fill(name);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await shown(page.getByRole('navigation', { name: 'Conversations' }));

    // 45 messages from a user of the SDK: more than the first page (30) holds.
    const writer = await sdkUser(rig.server.url, 'writer');
    for (let i = 1; i <= 45; i++) await writer.client.messages.send({ receiverId: eveId, content: `note ${i}.` });
    await page.getByRole('link', { name: new RegExp(writer.username) }).click();
    await shown(messageWith(page, 'note 45.'));
    expect(await messageWith(page, 'note 1.').count()).toBe(0);
    // Scrolling to the top loads the page before it.
    await page.getByRole('log', { name: 'Messages' }).evaluate((el) => {
      el.scrollTop = 0;
    });
    await shown(messageWith(page, 'note 1.'));

    const { message } = await writer.client.messages.send({ receiverId: eveId, content: 'soon gone' });
    await shown(messageWith(page, 'soon gone'));
    await writer.client.call('delete', '/conversations/{conversationId}/messages/{messageId}', {
      path: { conversationId: message.conversationId, messageId: message.id },
    });
    await shown(page.getByRole('log', { name: 'Messages' }).getByText('Message deleted'));
    expect(await messageWith(page, 'soon gone').count()).toBe(0);
  });
});
