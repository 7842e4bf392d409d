import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The import rules of CONVENTIONS.md §1, checked on the source text (tests/ are exempt):
 *
 * - http/ and ws/ share JSON shapes through api-shapes/, never through each other: the day ws/
 *   imports a route helper, a change to a REST schema silently changes the WebSocket frames.
 * - Only store/ imports cassandra-driver, and only cache/ and realtime/bus* import ioredis: a
 *   driver call elsewhere escapes the error translation and the timeouts set at those edges.
 * - Only ws/ imports 'ws'.
 * - domain/ does no I/O, so its rules run (and are tested) without services. One exemption, by
 *   name: node:net's address helpers (`isIP`, `isIPv4`, `isIPv6`, `BlockList`, `SocketAddress`)
 *   only compute, and the client-address rules (which proxy to believe) are domain rules that both
 *   edges call; anything else from node:net (sockets, servers) is I/O and refused.
 * - api-shapes/ and realtime/ import neither http/ nor ws/: both edges depend on them.
 * - client/ (the SDK users import as switchboard/client) imports nothing outside client/ but
 *   type-only imports of api-shapes/, and no package at all: a browser bundle that reached
 *   `../domain/errors.js` for one constant would pull ulid, then config, then node:crypto, and
 *   break in the browser (or ship server code to every user).
 * - console/ (the web console, bundled for the browser) imports only console/, client/ and the
 *   preact package: it talks to the API through the SDK alone, so what it does is what any SDK user
 *   can do, and a reach into server code would bundle it into a page. Nothing else in src/ imports
 *   console/: the server serves its built files, never its modules.
 *
 * No exemption is needed today: the composition root (container.ts) builds its Redis clients
 * through cache/client.ts and observability/redis.ts types the client structurally, so neither
 * imports ioredis. Adding one must be a rule here with its reason, not a silent exception.
 */

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '../..');
const SRC = join(ROOT, 'src');

/** I/O modules domain/ must not import (node:crypto and pure libraries such as ulid are fine). */
const IO_MODULES = [
  'fs',
  'fs/promises',
  'net',
  'http',
  'https',
  'http2',
  'dgram',
  'dns',
  'tls',
  'child_process',
  'cluster',
  'worker_threads',
  'ioredis',
  'cassandra-driver',
  'ws',
  'hono',
  'pino',
  'undici',
];

interface SourceFile {
  /** Path relative to the repository, with forward slashes (`src/ws/gateway.ts`). */
  path: string;
  text: string;
}

interface Violation {
  file: string;
  specifier: string;
  rule: string;
}

/** node:net exports that only compute (see the header). */
const PURE_NET = ['isIP', 'isIPv4', 'isIPv6', 'BlockList', 'SocketAddress'];

interface Import {
  specifier: string;
  /** The names of `import { a, b as c }` (a, b); undefined for default, namespace, side-effect or dynamic imports. */
  names: string[] | undefined;
  /** `import type …` / `export type …`: erased at build time. */
  typeOnly?: boolean;
}

/** Every module a file imports or re-exports (static, type-only and dynamic), with the names it takes. */
function importsOf(text: string): Import[] {
  const found: Import[] = [];
  for (const match of text.matchAll(/^\s*(?:import|export)\s([^'"]*?)\sfrom\s*['"]([^'"]+)['"]/gm)) {
    const clause = (match[1] ?? '').trim();
    const named = /^(?:type\s+)?\{([^}]*)\}$/.exec(clause);
    const names = named?.[1]
      ?.split(',')
      .map(
        (part) =>
          part
            .trim()
            .replace(/^type\s+/, '')
            .split(/\s+as\s+/)[0] ?? '',
      )
      .filter((name) => name.length > 0);
    found.push({ specifier: match[2] as string, names, typeOnly: /^type\s/.test(clause) });
  }
  for (const pattern of [
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
  ]) {
    for (const match of text.matchAll(pattern)) if (match[1]) found.push({ specifier: match[1], names: undefined });
  }
  return found;
}

/** The bare package (or node: builtin without its prefix) a specifier names, or undefined for a relative one. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.')) return undefined;
  const bare = specifier.replace(/^node:/, '');
  if (bare.startsWith('@')) return bare.split('/').slice(0, 2).join('/');
  return bare === 'fs/promises' ? bare : bare.split('/')[0];
}

/** Checks the rules on a set of source files; returns every violation. */
function checkImports(files: SourceFile[]): Violation[] {
  const violations: Violation[] = [];
  for (const file of files) {
    const dir = posix.dirname(file.path);
    const inside = (folder: string) => file.path.startsWith(`src/${folder}/`);
    for (const { specifier, names, typeOnly } of importsOf(file.text)) {
      const flag = (rule: string) => violations.push({ file: file.path, specifier, rule });
      const pkg = packageOf(specifier);
      const target = pkg === undefined ? posix.normalize(posix.join(dir, specifier)) : undefined;
      const targets = (folder: string) => target?.startsWith(`src/${folder}/`) ?? false;

      if (inside('ws') && targets('http')) flag('ws/ must not import http/ (share shapes through api-shapes/)');
      if (inside('http') && targets('ws')) flag('http/ must not import ws/ (share shapes through api-shapes/)');
      if ((inside('api-shapes') || inside('realtime')) && (targets('http') || targets('ws'))) {
        flag('api-shapes/ and realtime/ must not import http/ or ws/');
      }
      if (inside('client') && !targets('client') && !(typeOnly && targets('api-shapes'))) {
        flag('client/ imports only client/ (and type-only api-shapes/), no packages');
      }
      if (inside('console') && (pkg ? pkg !== 'preact' : !targets('console') && !targets('client'))) {
        flag('console/ imports only console/, client/ and preact');
      }
      if (!inside('console') && targets('console')) flag('nothing outside console/ imports console/');
      if (pkg === 'cassandra-driver' && !inside('store')) flag('only store/ imports cassandra-driver');
      if (pkg === 'ioredis' && !inside('cache') && !file.path.startsWith('src/realtime/bus')) {
        flag('only cache/ and realtime/bus* import ioredis');
      }
      if (pkg === 'ws' && !inside('ws')) flag("only ws/ imports 'ws'");
      const pureNet = pkg === 'net' && names !== undefined && names.every((name) => PURE_NET.includes(name));
      if (inside('domain') && pkg !== undefined && (IO_MODULES.includes(pkg) || pkg.startsWith('@hono/')) && !pureNet) {
        flag('domain/ must not import I/O modules');
      }
    }
  }
  return violations;
}

function sourceFiles(dir: string): SourceFile[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    if (!/\.tsx?$/.test(entry.name)) return [];
    return [{ path: relative(ROOT, full).split('\\').join('/'), text: readFileSync(full, 'utf8') }];
  });
}

describe('import rules', () => {
  it('holds for every file under src/', () => {
    const files = sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(50);
    expect(checkImports(files)).toEqual([]);
  });

  it('reads static, type-only, side-effect, re-export and dynamic imports', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "import './side-effect.js';",
      "export { c } from './c.js';",
      "export type * from './d.js';",
      "type E = import('./e.js').E;",
      'import {',
      '  f,',
      "} from 'f-package';",
    ].join('\n');
    expect(
      importsOf(text)
        .map((entry) => entry.specifier)
        .sort(),
    ).toEqual(['../b.js', './a.js', './c.js', './d.js', './e.js', './side-effect.js', 'f-package'].sort());
  });

  it('catches each kind of violation', () => {
    const file = (path: string, ...imports: string[]) => ({
      path,
      text: imports.map((specifier) => `import x from '${specifier}';`).join('\n'),
    });
    const violations = checkImports([
      file('src/ws/gateway.ts', '../http/problem.js', '../api-shapes/problem.js', 'ws'),
      file('src/http/app.ts', '../ws/protocol.js'),
      file('src/services/messaging.ts', 'cassandra-driver', 'ioredis'),
      file('src/container.ts', 'ioredis', 'ws'),
      file('src/realtime/hub.ts', 'ioredis', '../ws/connection.js'),
      file('src/realtime/bus.ts', 'ioredis'),
      file('src/cache/client.ts', 'ioredis'),
      file('src/store/client.ts', 'cassandra-driver'),
      file('src/domain/ids.ts', 'node:crypto', 'ulid', 'node:fs', 'hono', '@hono/zod-openapi', 'node:net'),
      { path: 'src/domain/client-address.ts', text: "import { BlockList, isIP } from 'node:net';" },
      { path: 'src/domain/sockets.ts', text: "import { isIP, createConnection as connect } from 'node:net';" },
      file('src/client/sync.ts', './frames.js', '../domain/errors.js', '../api-shapes/problem.js', 'ws'),
      { path: 'src/client/errors.ts', text: "import type { Problem } from '../api-shapes/problem.js';" },
      file('src/console/app.tsx', './chat.js', '../client/index.js', 'preact/hooks', '../domain/ids.js', 'hono'),
      file('src/http/routes/console.ts', '../../console/chat.js'),
    ]);
    expect(violations.map((violation) => `${violation.file} ${violation.specifier}`)).toEqual([
      'src/ws/gateway.ts ../http/problem.js',
      'src/http/app.ts ../ws/protocol.js',
      'src/services/messaging.ts cassandra-driver',
      'src/services/messaging.ts ioredis',
      'src/container.ts ioredis',
      'src/container.ts ws',
      'src/realtime/hub.ts ioredis',
      'src/realtime/hub.ts ../ws/connection.js',
      'src/domain/ids.ts node:fs',
      'src/domain/ids.ts hono',
      'src/domain/ids.ts @hono/zod-openapi',
      'src/domain/ids.ts node:net',
      'src/domain/sockets.ts node:net',
      'src/client/sync.ts ../domain/errors.js',
      'src/client/sync.ts ../api-shapes/problem.js',
      'src/client/sync.ts ws',
      'src/client/sync.ts ws',
      'src/console/app.tsx ../domain/ids.js',
      'src/console/app.tsx hono',
      'src/http/routes/console.ts ../../console/chat.js',
    ]);
  });
});
