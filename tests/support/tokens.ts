import { createHmac } from 'node:crypto';
import { TEST_JWT_SECRET } from './env.js';

/** The claims of an access token (no verification). */
export function claimsOf(token: string): { sub: string; sid: string; iat: number; exp: number } {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
}

/** An HS256 token over exactly these claims, signed with the test servers' secret (or another). */
export function signToken(claims: Record<string, unknown>, secret = TEST_JWT_SECRET): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** Every other spelling of a base64url segment's last character that decodes to the same bytes. */
export function sameBytesVariants(segment: string): string[] {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const bytes = Buffer.from(segment, 'base64url');
  return [...alphabet]
    .filter((char) => char !== segment.at(-1))
    .map((char) => segment.slice(0, -1) + char)
    .filter((variant) => Buffer.from(variant, 'base64url').equals(bytes));
}
