/**
 * Which methods a path is served with, from the app's own route table: a request for a known path
 * with another method is answered 405 with `Allow` (RFC 9110 §15.5.6), not 404, so a client can
 * tell a typo in the path from a wrong method. Route patterns (`/api/v1/groups/:groupId`) become
 * regular expressions once, on first use; middleware (method ALL) and wildcard paths are skipped.
 */
export function createAllowedMethods(routes: ReadonlyArray<{ method: string; path: string }>) {
  let table: Array<{ pattern: RegExp; methods: Set<string> }> | undefined;

  function build() {
    const byPath = new Map<string, Set<string>>();
    for (const route of routes) {
      if (route.method === 'ALL' || route.path.includes('*')) continue;
      let methods = byPath.get(route.path);
      if (!methods) {
        methods = new Set();
        byPath.set(route.path, methods);
      }
      methods.add(route.method.toUpperCase());
      if (route.method.toUpperCase() === 'GET') methods.add('HEAD');
    }
    return [...byPath].map(([path, methods]) => ({
      pattern: new RegExp(
        `^${path
          .split('/')
          .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
          .join('/')}/?$`,
      ),
      methods,
    }));
  }

  /** The methods `path` is served with, sorted; empty when no route has that path. */
  return (path: string): string[] => {
    table ??= build();
    const allowed = new Set<string>();
    for (const { pattern, methods } of table) {
      if (pattern.test(path)) for (const method of methods) allowed.add(method);
    }
    return [...allowed].sort();
  };
}
