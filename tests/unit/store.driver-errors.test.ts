import cassandra from 'cassandra-driver';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/domain/errors.js';
import { translateDriverError } from '../../src/store/client.js';

/** The store edge's translation of driver failures (CONVENTIONS.md §4): what the client is told. */
describe('translateDriverError', () => {
  it('turns a connection lost mid-request (a coordinator killed) into UNAVAILABLE, so the client retries', () => {
    // What cassandra-driver raises for a non-idempotent statement in flight when the node dies.
    const DriverError = cassandra.errors.DriverError as unknown as new (message: string) => Error;
    const lost = Object.assign(new DriverError('Socket was closed'), { isSocketError: true });
    const translated = translateDriverError(lost);
    expect(translated).toBeInstanceOf(AppError);
    expect((translated as AppError).code).toBe('UNAVAILABLE');
  });

  it('turns no host available into UNAVAILABLE', () => {
    const none = new cassandra.errors.NoHostAvailableError({});
    expect((translateDriverError(none) as AppError).code).toBe('UNAVAILABLE');
  });

  it('leaves other driver errors alone (a bad statement is a bug, not an outage)', () => {
    const syntax = Object.assign(new cassandra.errors.ResponseError(0x2000, 'line 1: no viable alternative'), {});
    expect(translateDriverError(syntax)).toBe(syntax);
  });
});
