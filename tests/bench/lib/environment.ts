import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { Redis } from 'ioredis';
import type { CassandraClient } from '../../../src/store/client.js';
import { openFileLimit } from './process-metrics.js';
import { REPO } from './stack.js';

/** Where the numbers were measured: they mean little without it. */
export interface Environment {
  cpuModel: string;
  cores: number;
  memoryGb: number;
  os: string;
  node: string;
  cassandra: string;
  redis: string;
  gitCommit: string;
  /** Uncommitted changes were present: the commit alone does not describe the code measured. */
  gitDirty: boolean;
  openFileLimit: number | 'unlimited';
  /** 1-minute load average when the run started: a busy machine makes every number worse. */
  loadAverageAtStart: number;
}

export async function collectEnvironment(client: CassandraClient, redis: Redis): Promise<Environment> {
  const cpus = os.cpus();
  const release = (await client.execute('SELECT release_version FROM system.local')).first()?.release_version;
  const info = await redis.info('server');
  const limit = openFileLimit();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    cassandra: String(release ?? 'unknown'),
    redis: /^redis_version:(.+)$/m.exec(info)?.[1]?.trim() ?? 'unknown',
    gitCommit: git(['rev-parse', 'HEAD']) ?? 'unknown',
    gitDirty: (git(['status', '--porcelain']) ?? '').length > 0,
    openFileLimit: Number.isFinite(limit) ? limit : 'unlimited',
    loadAverageAtStart: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
  };
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}
