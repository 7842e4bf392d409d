import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLIENT_TYPES_FILE, generateClientTypes } from '../../scripts/client-types.js';
import { SERVER_FRAME_TYPES } from '../../src/asyncapi.js';
import { KNOWN_SERVER_FRAMES } from '../../src/client/frames.js';

/** The SDK cannot drift from the server: its types are the server's documents, regenerated. */
describe('the client SDK is typed from the current server', () => {
  it('has src/client/openapi-types.ts exactly as npm run client:types generates it now', async () => {
    const committed = readFileSync(CLIENT_TYPES_FILE, 'utf8');
    const generated = await generateClientTypes();
    expect(committed === generated, 'the API changed: run `npm run client:types` and commit the result').toBe(true);
  });

  it('knows every server frame type of the AsyncAPI document, and no other', () => {
    expect([...KNOWN_SERVER_FRAMES].sort()).toEqual([...SERVER_FRAME_TYPES].sort());
  });
});
