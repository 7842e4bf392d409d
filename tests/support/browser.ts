import { existsSync, mkdirSync } from 'node:fs';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { buildConsole } from '../../scripts/build-console.js';
import { PASSWORD } from './sdk.js';
import { startServer, type TestServer } from './server.js';

/**
 * The browser tests' setup: Debian's chromium driven by playwright-core (no browser download),
 * the console built with esbuild into dist/console/ (a fraction of a second), and a real API
 * node serving it at /app against the real Cassandra and Redis.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/**
 * Where the tests' screenshots go: the README's (docs/screenshots/) with UPDATE_SCREENSHOTS=1,
 * else beside the test results, so an ordinary run leaves the work tree as it found it.
 */
export const SCREENSHOTS = new URL(
  process.env.UPDATE_SCREENSHOTS === '1' ? '../../docs/screenshots/' : '../../.native/test-results/screenshots/',
  import.meta.url,
).pathname;
mkdirSync(SCREENSHOTS, { recursive: true });

/**
 * Whether the browser tests can run. Without chromium they fail in CI (a green run that tested
 * no browser would hide it) and are skipped with the reason locally.
 */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM_PATH)) return true;
  const reason = `chromium not found at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`;
  if (process.env.CI && process.env.CI !== 'false') throw new Error(`browser tests cannot run in CI: ${reason}`);
  console.warn(`skipping the browser tests: ${reason}`);
  return false;
}

export interface ConsoleRig {
  server: TestServer;
  browser: Browser;
  url: string;
  close(): Promise<void>;
}

export async function startConsoleRig(): Promise<ConsoleRig> {
  const build = await buildConsole();
  const gzip = build.files.reduce((sum, file) => sum + file.gzipBytes, 0);
  console.log(`console build: ${build.files.map((f) => `${f.name} ${f.gzipBytes} B gzip`).join(', ')}; ${gzip} B gzip`);
  const server = await startServer();
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox'] });
  return {
    server,
    browser,
    url: `${server.url}/app`,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

/** How long the page may take to show a state (a wait on what is visible, never a sleep). */
export const SHOWS_WITHIN_MS = 15_000;

/** Resolves when the locator is visible; fails naming it after SHOWS_WITHIN_MS. */
export async function shown(locator: Locator): Promise<void> {
  await locator.first().waitFor({ state: 'visible', timeout: SHOWS_WITHIN_MS });
}

/** Signs up through the form; resolves with the new user's id, read from the inbox. */
export async function signUp(page: Page, url: string, username: string): Promise<string> {
  await page.goto(url);
  await page.getByRole('button', { name: 'No account yet? Create one' }).click();
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create an account' }).click();
  const inbox = page.getByRole('navigation', { name: 'Conversations' });
  await shown(inbox);
  return (await inbox.locator('code').textContent())?.trim() ?? '';
}

/** Sends a message through the open conversation's composer. */
export async function send(page: Page, text: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Message', exact: true }).fill(text);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
}

/** A message item in the open conversation, by its text. */
export const messageWith = (page: Page, text: string) =>
  page.getByRole('log', { name: 'Messages' }).getByRole('listitem').filter({ hasText: text });

/**
 * What the page's load cost over the network (transferSize: compressed bodies plus headers), the
 * console's own files (/app: the page, its script and stylesheet) apart from the API calls it made.
 */
export async function transferred(page: Page): Promise<{ appBytes: number; apiBytes: number; requests: number }> {
  return page.evaluate(() => {
    // This runs in the page; the file is typed for Node, whose performance lacks these entries.
    type Entry = { name: string; transferSize: number };
    const timing = performance as unknown as { getEntriesByType(type: string): Entry[] };
    const entries = [...timing.getEntriesByType('navigation'), ...timing.getEntriesByType('resource')];
    const bytes = (app: boolean) =>
      entries
        .filter((e) => new URL(e.name).pathname.startsWith('/app') === app)
        .reduce((sum, e) => sum + e.transferSize, 0);
    return { appBytes: bytes(true), apiBytes: bytes(false), requests: entries.length };
  });
}
