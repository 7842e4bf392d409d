import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/**
 * Builds the web console (src/console/) into static files the API serves at /app
 * (src/http/routes/console.ts): one minified ES module and one stylesheet with content hashes in
 * their names (served as immutable), an index.html naming them (served no-cache), and a .gz copy
 * of each text file, so the route answers gzip without compressing on every request.
 * `npm run build` runs it; the browser tests call buildConsole() in their setup.
 */

const REPO = new URL('../', import.meta.url).pathname;
export const CONSOLE_SOURCE = join(REPO, 'src/console');
export const CONSOLE_OUT = join(REPO, 'dist/console');

export interface ConsoleBuild {
  outdir: string;
  /** Every file written (without the .gz copies), with its size and gzip size in bytes. */
  files: Array<{ name: string; bytes: number; gzipBytes: number }>;
}

export async function buildConsole(outdir = CONSOLE_OUT): Promise<ConsoleBuild> {
  // A stale bundle from an earlier build would stay servable (and cached for a year) otherwise.
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(join(outdir, 'assets'), { recursive: true });
  const result = await build({
    entryPoints: [join(CONSOLE_SOURCE, 'main.tsx')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: join(outdir, 'assets'),
    entryNames: '[name]-[hash]',
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((file) => basename(file));
  const script = outputs.find((name) => name.endsWith('.js'));
  const style = outputs.find((name) => name.endsWith('.css'));
  if (!script || !style) throw new Error(`console build produced ${outputs.join(', ')}: expected one .js and one .css`);
  const html = readFileSync(join(CONSOLE_SOURCE, 'index.html'), 'utf8')
    .replace('%SCRIPT%', `/app/assets/${script}`)
    .replace('%STYLE%', `/app/assets/${style}`);
  writeFileSync(join(outdir, 'index.html'), html);
  const files = ['index.html', `assets/${script}`, `assets/${style}`].map((name) => {
    const content = readFileSync(join(outdir, name));
    const gzipped = gzipSync(content, { level: 9 });
    writeFileSync(join(outdir, `${name}.gz`), gzipped);
    return { name, bytes: content.length, gzipBytes: gzipped.length };
  });
  return { outdir, files };
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) {
  const { files } = await buildConsole();
  const total = files.reduce((sum, file) => sum + file.gzipBytes, 0);
  for (const file of files) console.log(`console ${file.name}: ${file.bytes} B (${file.gzipBytes} B gzip)`);
  console.log(`console first load: ${total} B gzip`);
}
