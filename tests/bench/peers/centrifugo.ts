import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { freePort } from '../../support/server.js';
import { REPO } from '../lib/stack.js';
import { CENTRIFUGO_VERSION } from './versions.js';

/**
 * Centrifugo, the peer the fan-out scenario is compared with: built from the Go module proxy at a
 * pinned version into `.native/peers/` (reused when present), started on loopback with the memory
 * engine and a config the harness writes, stopped when the comparison ends.
 */
const MODULE = 'github.com/centrifugal/centrifugo/v6';
const GO = process.env.GO_BINARY ?? '/usr/local/go/bin/go';
const PEERS_DIR = `${REPO}.native/peers`;
const INSTALL_DIR = `${PEERS_DIR}/centrifugo-${CENTRIFUGO_VERSION}`;
const BINARY = `${INSTALL_DIR}/bin/centrifugo`;

/** Namespaces of the written config: a personal channel per user (1:1), a channel per group. */
export const PERSONAL = 'personal';
export const GROUP = 'group';

/**
 * The binary, built on first use. A reason string instead when it cannot be had: no Go, or the
 * build failed (the bench then skips the comparison and runs the rest). A first build downloads
 * and compiles ~200 modules: minutes on 2 cores; later runs find the binary and start at once.
 */
export function centrifugoBinary(log: (line: string) => void): { path: string } | { reason: string } {
  if (existsSync(BINARY)) return { path: BINARY };
  const go = spawnSync(GO, ['version'], { encoding: 'utf8' });
  if (go.error || go.status !== 0) {
    return {
      reason: `Go is not installed (${GO}: ${go.error?.message ?? go.stderr.trim()}); set GO_BINARY to a go command`,
    };
  }
  log(
    `building Centrifugo ${CENTRIFUGO_VERSION} with ${go.stdout.trim()} into ${INSTALL_DIR.replace(REPO, '')} (once)`,
  );
  mkdirSync(INSTALL_DIR, { recursive: true });
  const build = spawnSync(GO, ['install', `${MODULE}@${CENTRIFUGO_VERSION}`], {
    encoding: 'utf8',
    // Its own GOPATH and build cache under .native/peers: nothing lands in the user's ~/go.
    env: {
      ...process.env,
      GOBIN: `${INSTALL_DIR}/bin`,
      GOPATH: `${PEERS_DIR}/gopath`,
      GOCACHE: `${PEERS_DIR}/gocache`,
      GOFLAGS: '-mod=mod',
    },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 30 * 60_000,
  });
  if (build.status !== 0 || !existsSync(BINARY)) {
    const tail = `${build.stderr ?? ''}${build.error?.message ?? ''}`.trim().split('\n').slice(-5).join(' | ');
    return { reason: `building Centrifugo ${CENTRIFUGO_VERSION} failed: ${tail}` };
  }
  return { path: BINARY };
}

export interface CentrifugoNode {
  url: string;
  pid: number;
  apiKey: string;
  /** HS256 secret of connection tokens. */
  secret: string;
  version: string;
  stop(): Promise<void>;
}

/**
 * Starts Centrifugo on a free loopback port and waits for /health. Memory engine (no Redis: one
 * node needs none), history and presence off (the namespaces' defaults: it keeps nothing), server
 * API on the same port behind an API key, anonymous usage statistics off.
 */
export async function startCentrifugo(binary: string): Promise<CentrifugoNode> {
  const port = await freePort();
  const apiKey = randomBytes(18).toString('base64url');
  const secret = randomBytes(32).toString('base64url');
  const configPath = `${PEERS_DIR}/centrifugo-bench.json`;
  writeFileSync(
    configPath,
    `${JSON.stringify(
      {
        http_server: { address: '127.0.0.1', port },
        log: { level: 'warn' },
        engine: { type: 'memory' },
        client: { token: { hmac_secret_key: secret } },
        http_api: { key: apiKey },
        channel: { namespaces: [{ name: PERSONAL }, { name: GROUP }] },
        health: { enabled: true },
        usage_stats: { disabled: true },
      },
      null,
      2,
    )}\n`,
  );
  const child = spawn(binary, ['--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(child, url, () => output);
  return {
    url,
    pid: child.pid as number,
    apiKey,
    secret,
    version: moduleVersion(binary),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/**
 * The module version built into the binary (`go version -m`): `centrifugo version` prints
 * v0.0.0 for a `go install` build, whose version is set by ldflags only in release builds.
 */
function moduleVersion(binary: string): string {
  const info = spawnSync(GO, ['version', '-m', binary], { encoding: 'utf8' });
  const line = /^\s*mod\s+(\S+)\s+(\S+)/m.exec(info.stdout ?? '');
  return line ? `${line[1]}@${line[2]}` : `${MODULE}@${CENTRIFUGO_VERSION} (pinned; go version -m unavailable)`;
}

async function waitHealthy(child: ChildProcess, url: string, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`centrifugo exited early: ${output()}`);
    try {
      if ((await fetch(`${url}/health`)).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`centrifugo not healthy in 30 s: ${output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
