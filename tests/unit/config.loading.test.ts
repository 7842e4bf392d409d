import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

const SECRET = 'x'.repeat(32);

describe('loadConfig', () => {
  it('fills every default from a minimal environment', () => {
    const config = loadConfig({ JWT_SECRET: SECRET });
    expect(config.env).toBe('development');
    expect(config.http).toEqual({
      host: '0.0.0.0',
      port: 3000,
      bodyLimitBytes: 65_536,
      shutdownGraceMs: 10_000,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
    });
    expect(config.metrics).toEqual({ host: '127.0.0.1', port: 9464, token: undefined });
    expect(config.cassandra.contactPoints).toEqual(['127.0.0.1:9042']);
    expect(config.cassandra.consistency).toBe('LOCAL_QUORUM');
    expect(config.cassandra.keyspace).toBe('switchboard');
    expect(config.auth).toEqual({
      jwtSecret: SECRET,
      jwtTtlSeconds: 900,
      refreshTtlSeconds: 30 * 24 * 60 * 60,
      checkCacheMs: 5000,
    });
    expect(config.messages.bucketMs).toBe(10 * 24 * 60 * 60 * 1000);
    expect(config.groups.maxMembers).toBe(1000);
    expect(config.cache.enabled).toBe(true);
  });

  it('uses one Redis unless REDIS_CLUSTER_NODES names a cluster, which then wins', () => {
    expect(loadConfig({ JWT_SECRET: SECRET }).redis.clusterNodes).toBeUndefined();
    expect(loadConfig({ JWT_SECRET: SECRET, REDIS_CLUSTER_NODES: '' }).redis.clusterNodes).toBeUndefined();
    expect(
      loadConfig({ JWT_SECRET: SECRET, REDIS_CLUSTER_NODES: '127.0.0.1:7101, redis-2:7102' }).redis.clusterNodes,
    ).toEqual([
      { host: '127.0.0.1', port: 7101 },
      { host: 'redis-2', port: 7102 },
    ]);
    expect(() => loadConfig({ JWT_SECRET: SECRET, REDIS_CLUSTER_NODES: 'nope' })).toThrow(/REDIS_CLUSTER_NODES/);
  });

  it('maps ring members to the addresses CASSANDRA_ADDRESS_MAP gives, and refuses a malformed map', () => {
    expect(loadConfig({ JWT_SECRET: SECRET }).cassandra.addressMap.size).toBe(0);
    const { addressMap } = loadConfig({
      JWT_SECRET: SECRET,
      CASSANDRA_ADDRESS_MAP: '127.0.0.2:9042=127.0.0.1:19042, 127.0.0.3:9042=proxy:19043',
    }).cassandra;
    expect([...addressMap]).toEqual([
      ['127.0.0.2:9042', '127.0.0.1:19042'],
      ['127.0.0.3:9042', 'proxy:19043'],
    ]);
    for (const bad of ['127.0.0.2=127.0.0.1:19042', '127.0.0.2:9042', '127.0.0.2:9042=a:1=b:2']) {
      expect(() => loadConfig({ JWT_SECRET: SECRET, CASSANDRA_ADDRESS_MAP: bad })).toThrow(/CASSANDRA_ADDRESS_MAP/);
    }
  });

  it('reads overrides, coercing numbers, lists and booleans', () => {
    const config = loadConfig({
      JWT_SECRET: SECRET,
      PORT: '8080',
      CASSANDRA_CONTACT_POINTS: ' a:9042, b:9042 ,,',
      CACHE_ENABLED: 'no',
      MESSAGE_BUCKET_MS: '60000',
      GROUP_MAX_MEMBERS: '5',
      CASSANDRA_CONSISTENCY: 'QUORUM',
    });
    expect(config.http.port).toBe(8080);
    expect(config.cassandra.contactPoints).toEqual(['a:9042', 'b:9042']);
    expect(config.cache.enabled).toBe(false);
    expect(config.messages.bucketMs).toBe(60_000);
    expect(config.groups.maxMembers).toBe(5);
    expect(config.cassandra.consistency).toBe('QUORUM');
  });

  it('treats empty strings as not set', () => {
    const config = loadConfig({ JWT_SECRET: SECRET, PORT: '', NODE_ID: '' });
    expect(config.http.port).toBe(3000);
    expect(config.nodeId).toBeUndefined();
  });

  it('names every bad variable at once', () => {
    let error: unknown;
    try {
      loadConfig({ JWT_SECRET: 'short', PORT: 'eighty', MESSAGE_BUCKET_MS: '10', CASSANDRA_KEYSPACE: 'Bad-Name' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of ['JWT_SECRET', 'PORT', 'MESSAGE_BUCKET_MS', 'CASSANDRA_KEYSPACE']) {
      expect(problems).toContain(name);
    }
  });

  it('requires a JWT secret', () => {
    expect(() => loadConfig({})).toThrow(ConfigError);
  });

  it('refuses a bucket shorter than a minute', () => {
    expect(() => loadConfig({ JWT_SECRET: SECRET, MESSAGE_BUCKET_MS: '59999' })).toThrow(/MESSAGE_BUCKET_MS/);
  });

  it('refuses an access-token lifetime that is not shorter than the refresh-token lifetime', () => {
    expect(() =>
      loadConfig({ JWT_SECRET: SECRET, JWT_TTL_SECONDS: '3600', REFRESH_TOKEN_TTL_SECONDS: '3600' }),
    ).toThrow(/JWT_TTL_SECONDS: must be less than REFRESH_TOKEN_TTL_SECONDS/);
    expect(
      loadConfig({ JWT_SECRET: SECRET, JWT_TTL_SECONDS: '3599', REFRESH_TOKEN_TTL_SECONDS: '3600' }).auth,
    ).toMatchObject({ jwtTtlSeconds: 3599, refreshTtlSeconds: 3600 });
  });
});
