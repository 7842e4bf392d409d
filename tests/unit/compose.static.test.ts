import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.js';

/**
 * Static checks of the container set-up. There is no Docker engine on the development machine
 * or in CI, so the Dockerfile, docker-compose.yml, the nginx config, src/config.ts and
 * .env.example are checked against each other as files: variable names, values, ports,
 * health checks and start-up order.
 */
const REPO = new URL('../../', import.meta.url).pathname;
const read = (path: string) => readFileSync(`${REPO}${path}`, 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  profiles?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const APP_NODES = ['app1', 'app2'] as const;
const APP_IMAGE_SERVICES = ['migrate', ...APP_NODES] as const;

/** Compose interpolation as `docker compose` does it: `${X:-default}`, `${X:?error}`, `${X}`. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?:(:?[-?])([^}]*))?\}/g, (_, name: string, op: string | undefined, arg: string) => {
    const set = env[name];
    if (op?.endsWith('-')) return set ? set : arg;
    if (op?.endsWith('?')) {
      if (!set) throw new Error(`compose requires ${name}: ${arg}`);
      return set;
    }
    return set ?? '';
  });
}

const envOf = (service: string, hostEnv: Record<string, string> = { JWT_SECRET: 'x'.repeat(40) }) =>
  Object.fromEntries(
    Object.entries(services[service]?.environment ?? {}).map(([key, value]) => [
      key,
      interpolate(String(value), hostEnv),
    ]),
  );

/** Names declared in src/config.ts's zod schema. */
const configNames = (() => {
  const source = read('src/config.ts');
  const body = source.slice(
    source.indexOf('const envSchema = z.object({'),
    source.indexOf('});', source.indexOf('const envSchema')),
  );
  return new Set([...body.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((match) => match[1] as string));
})();

/** Names listed in .env.example (`NAME=value` lines). */
const exampleNames = new Set(
  [...read('.env.example').matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1] as string),
);

/** The Dockerfile split into stages, each a list of [instruction, arguments] (continuations joined). */
const stages = (() => {
  const logical = read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith('#'));
  const result: Array<Array<[string, string]>> = [];
  for (const line of logical) {
    const [instruction = '', ...rest] = line.split(/\s+/);
    const entry: [string, string] = [instruction.toUpperCase(), rest.join(' ')];
    if (entry[0] === 'FROM') result.push([]);
    result.at(-1)?.push(entry);
  }
  return result;
})();
const runtime = stages.at(-1) ?? [];
const instructions = (name: string) => runtime.filter(([instruction]) => instruction === name).map(([, args]) => args);

const nginx = read('docker/nginx/nginx.conf');

describe('one build for every way the API runs', () => {
  it('npm run up and the Dockerfile build with `npm run build`, which also copies the Lua scripts', () => {
    const build = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.build;
    expect(build).toContain('src/cache/*.lua');
    expect(read('docker/native/up.sh')).toMatch(/^npm run --silent build$/m);
    expect(read('Dockerfile')).toMatch(/^RUN npm run build$/m);
  });
});

describe('docker-compose.yml and the configuration', () => {
  it('the configuration reference (docs/configuration.md) documents every variable src/config.ts reads', () => {
    const reference = read('docs/configuration.md');
    const undocumented = [...configNames].filter((name) => !reference.includes(`| \`${name}\` |`));
    expect(undocumented).toEqual([]);
  });

  it('src/config.ts and .env.example list the same variables', () => {
    expect(configNames.size).toBeGreaterThan(20);
    expect([...configNames].filter((name) => !exampleNames.has(name))).toEqual([]);
    expect([...exampleNames].filter((name) => !configNames.has(name))).toEqual([]);
  });

  it.each(APP_IMAGE_SERVICES)('%s sets only variables that src/config.ts and .env.example know', (name) => {
    const keys = Object.keys(services[name]?.environment ?? {});
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.filter((key) => !configNames.has(key))).toEqual([]);
    expect(keys.filter((key) => !exampleNames.has(key))).toEqual([]);
  });

  it.each(APP_NODES)(
    '%s has an environment the real config loader accepts, pointing at the compose services',
    (name) => {
      const config = loadConfig(envOf(name));
      expect(config.cassandra.contactPoints).toEqual(['cassandra:9042']);
      expect(config.redis.url).toBe('redis://redis:6379');
      expect(config.nodeId).toBe(name);
      expect(config.env).toBe('production');
    },
  );

  it('points every node and the migration at ScyllaDB when CQL_CONTACT_POINTS says so', () => {
    for (const name of APP_IMAGE_SERVICES) {
      const config = loadConfig(envOf(name, { JWT_SECRET: 'x'.repeat(40), CQL_CONTACT_POINTS: 'scylla:9042' }));
      expect(config.cassandra.contactPoints).toEqual(['scylla:9042']);
    }
  });

  it('requires JWT_SECRET from the host instead of carrying one', () => {
    expect(() => envOf('app1', {})).toThrow(/JWT_SECRET/);
    // The only value it gets is the host's: `${JWT_SECRET:?…}`.
    expect(read('docker-compose.yml')).not.toMatch(/^\s*JWT_SECRET:\s*(?!\$\{JWT_SECRET:\?)\S/m);
  });

  it('uses the same keyspace and data center for the migration and the nodes', () => {
    const migrate = loadConfig(envOf('migrate'));
    for (const name of APP_NODES) {
      const node = loadConfig(envOf(name));
      expect(node.cassandra).toEqual(migrate.cassandra);
    }
  });
});

describe('ports', () => {
  const appPort = () => {
    const ports = new Set(APP_NODES.map((name) => loadConfig(envOf(name)).http.port));
    expect(ports.size).toBe(1);
    return [...ports][0] as number;
  };

  it('agree between the app, the Dockerfile (ENV, EXPOSE, HEALTHCHECK) and the published ports', () => {
    const port = appPort();
    expect(instructions('EXPOSE')).toEqual([String(port)]);
    expect(instructions('ENV').join(' ')).toContain(`PORT=${port}`);
    expect(instructions('HEALTHCHECK').join(' ')).toContain('process.env.PORT || 3000');
    expect(port).toBe(3000);
    for (const name of APP_NODES) {
      const targets = (services[name]?.ports ?? []).map((mapping) => mapping.split(':').at(-1));
      expect(targets).toEqual([String(port)]);
      expect(services[name]?.healthcheck?.test.join(' ')).toContain(`127.0.0.1:${port}/readyz`);
    }
  });

  it('agree between nginx (listen, upstream servers) and the compose services', () => {
    const port = appPort();
    const listen = /^\s*listen (\d+);/m.exec(nginx)?.[1];
    expect(services.nginx?.ports).toEqual([`${listen}:${listen}`]);
    const upstream = [...nginx.matchAll(/^\s*server ([\w.-]+):(\d+)/gm)].map((match) => [match[1], Number(match[2])]);
    expect(upstream).toEqual(APP_NODES.map((name) => [name, port]));
    expect(services.nginx?.healthcheck?.test.join(' ')).toContain(`127.0.0.1:${listen}/healthz`);
  });
});

describe('health checks and start-up order', () => {
  it('waits for CQL to answer before Cassandra (and ScyllaDB) count as healthy', () => {
    for (const name of ['cassandra', 'scylla']) {
      expect(services[name]?.healthcheck?.test.join(' ')).toMatch(/cqlsh -e 'describe keyspaces'/);
    }
    expect(services.redis?.healthcheck?.test).toEqual(['CMD', 'redis-cli', 'ping']);
  });

  it('runs the migration once Cassandra is healthy, and the nodes once it completed and Redis is healthy', () => {
    expect(services.migrate?.command).toEqual(['node', 'dist/src/migrate.js']);
    expect(existsSync(`${REPO}src/migrate.ts`)).toBe(true);
    expect(services.migrate?.depends_on).toEqual({ cassandra: { condition: 'service_healthy' } });
    for (const name of APP_NODES) {
      expect(services[name]?.depends_on).toEqual({
        migrate: { condition: 'service_completed_successfully' },
        redis: { condition: 'service_healthy' },
      });
    }
    expect(services.nginx?.depends_on).toEqual({
      app1: { condition: 'service_healthy' },
      app2: { condition: 'service_healthy' },
    });
  });

  it('keeps ScyllaDB behind the scylla profile and everything else in the default stack', () => {
    expect(services.scylla?.profiles).toEqual(['scylla']);
    expect(services.scylla?.image).toMatch(/^scylladb\/scylla:/);
    expect(services.cassandra?.image).toBe('cassandra:5.0');
    for (const [name, service] of Object.entries(services)) {
      if (name !== 'scylla') expect(service.profiles, name).toBeUndefined();
    }
  });

  it('keeps database data in named volumes and mounts only files that exist', () => {
    expect(Object.keys(compose.volumes).sort()).toEqual(['cassandra-data', 'scylla-data']);
    expect(services.cassandra?.volumes).toContain('cassandra-data:/var/lib/cassandra');
    expect(services.scylla?.volumes).toContain('scylla-data:/var/lib/scylla');
    for (const service of Object.values(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0] as string;
        if (source.startsWith('./')) expect(existsSync(`${REPO}${source.slice(2)}`), source).toBe(true);
      }
    }
  });

  it("gives Redis the cache's memory policy from docker/redis/redis.conf", () => {
    expect(services.redis?.volumes).toContain('./docker/redis/redis.conf:/usr/local/etc/redis/redis.conf:ro');
    expect(services.redis?.command).toEqual(['redis-server', '/usr/local/etc/redis/redis.conf']);
    expect(read('docker/redis/redis.conf')).toMatch(/^maxmemory-policy \S+/m);
  });

  it('builds the three app-image services from the one Dockerfile', () => {
    for (const name of APP_IMAGE_SERVICES) {
      expect(services[name]?.build).toBe('.');
      expect(services[name]?.image).toBe('switchboard:local');
    }
  });
});

describe('Dockerfile', () => {
  it('builds in one stage and runs production dependencies only in a slim LTS runtime', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const from = instructions('FROM')[0] ?? '';
    expect(from).toMatch(/^node:\$\{NODE_VERSION\}-bookworm-slim AS runtime$/);
    const nodeVersion = /^ARG NODE_VERSION=(\d+)$/m.exec(read('Dockerfile'))?.[1];
    expect(Number(nodeVersion) % 2).toBe(0); // even majors are the LTS lines
    expect(instructions('RUN').join('\n')).toContain('npm ci --omit=dev');
    const build = stages[0]?.map(([instruction, args]) => `${instruction} ${args}`).join('\n') ?? '';
    expect(build).toContain('npm ci');
    expect(build).toContain('npm run build');
    expect(instructions('COPY')).toEqual(
      expect.arrayContaining(['--from=build /app/dist ./dist', 'cql ./cql', 'package.json package-lock.json ./']),
    );
    expect(instructions('CMD')).toEqual(['["node", "dist/src/main.js"]']);
  });

  it('runs as a non-root user', () => {
    const users = instructions('USER');
    expect(users.length).toBe(1);
    expect(users[0]).not.toMatch(/^(root|0)(:|$)/);
    // USER comes before the command, so the process never starts as root.
    const order = runtime.map(([instruction]) => instruction);
    expect(order.indexOf('USER')).toBeLessThan(order.indexOf('CMD'));
  });

  it('checks its health on /healthz with Node (the slim image has no curl)', () => {
    const healthcheck = instructions('HEALTHCHECK').join(' ');
    expect(healthcheck).toContain('CMD ["node", "-e"');
    expect(healthcheck).toContain('/healthz');
    expect(healthcheck).not.toContain('curl');
  });

  it('bakes in no secret and keeps .env out of the build context', () => {
    const declared = [
      ...instructions('ENV'),
      ...stages
        .flat()
        .filter(([i]) => i === 'ARG')
        .map(([, args]) => args),
    ];
    expect(declared.join(' ')).not.toMatch(/SECRET|PASSWORD|TOKEN/i);
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim());
    expect(ignored).toContain('.env');
    expect(ignored).toContain('node_modules');
    expect(ignored).not.toContain('src');
    expect(ignored).not.toContain('cql');
  });
});

describe('nginx', () => {
  it('passes WebSocket upgrades through to the nodes over HTTP/1.1', () => {
    expect(nginx).toMatch(/proxy_http_version 1\.1;/);
    expect(nginx).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
    expect(nginx).toMatch(/proxy_set_header Connection \$connection_upgrade;/);
    expect(nginx).toMatch(/map \$http_upgrade \$connection_upgrade \{\s*default upgrade;/);
    expect(nginx).toMatch(/location \/ws \{[^}]*proxy_read_timeout/);
  });

  it('forwards the request id and never logs query strings (a WebSocket token travels in one)', () => {
    expect(nginx).toMatch(/proxy_set_header X-Request-Id \$switchboard_request_id;/);
    const format = /log_format switchboard[^;]*;/.exec(nginx)?.[0] ?? '';
    expect(format).toContain('$uri');
    expect(format).not.toMatch(/\$request_uri|\$args|\$query_string|\$request\b/);
  });
});

// `docker compose config` (v2) or Debian's `docker-compose` (v1) parses and validates the file
// when one is installed; neither needs a Docker engine for that.
const composeCli = (() => {
  for (const command of [['docker', 'compose'], ['docker-compose']] as const) {
    try {
      execFileSync(command[0], [...command.slice(1), 'version'], { stdio: 'ignore' });
      return command;
    } catch {
      // not installed
    }
  }
  return undefined;
})();

describe.runIf(composeCli)('the compose CLI', () => {
  const run = (args: string[], env: Record<string, string>) =>
    execFileSync(composeCli?.[0] ?? '', [...(composeCli?.slice(1) ?? []), ...args], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  it('accepts the file, with and without the scylla profile', () => {
    const env = { JWT_SECRET: 'x'.repeat(40) };
    // (v1 also lists profiled services here; v2 only the active ones.)
    expect(run(['config', '--services'], env).split('\n')).toEqual(
      expect.arrayContaining(['app1', 'app2', 'cassandra', 'migrate', 'nginx', 'redis']),
    );
    expect(run(['--profile', 'scylla', 'config', '--services'], env)).toContain('scylla');
    // Two CLI processes: seconds on a loaded 2-core machine, beyond the unit default of 5 s.
  }, 30_000);
});
