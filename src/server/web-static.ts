/**
 * The web explorer's built files (dist/web, from web/ by `npm run build`) at `/`. Every file is
 * read once at start-up into a map keyed by its URL path, so a request can only ever name one of
 * those files: no path from the request reaches the file system, hence no traversal.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TypedApp } from './server-context.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

// Nothing the page loads may come from elsewhere: the explorer checks the server's claims, so it
// must not run code or styles a third party could change.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

interface WebFile {
  body: Buffer;
  type: string;
  /** Vite names assets after their content hash: they never change under the same URL. */
  immutable: boolean;
}

/** dist/web next to the built server (dist/server → dist/web), or the repo's dist/web when run from src/. */
export function defaultWebRoot(): string | null {
  const here = fileURLToPath(new URL('.', import.meta.url));
  for (const candidate of [join(here, '..', 'web'), join(here, '..', '..', 'dist', 'web')]) {
    if (existsSync(join(candidate, 'index.html'))) return candidate;
  }
  return null;
}

export function loadWebFiles(root: string): Map<string, WebFile> {
  const files = new Map<string, WebFile>();
  const walk = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path, `${prefix}${name}/`);
      else files.set(`/${prefix}${name}`, { body: readFileSync(path), type: TYPES[extname(name)] ?? 'application/octet-stream', immutable: prefix.startsWith('assets/') });
    }
  };
  walk(root, '');
  return files;
}

/** Serves the explorer at `/` and its files; returns false when there is no build to serve. */
export function registerWebStatic(app: TypedApp, root: string | null): boolean {
  if (root === null) return false;
  const files = loadWebFiles(root);
  const index = files.get('/index.html');
  if (!index) return false;
  const send = (file: WebFile, reply: import('fastify').FastifyReply) =>
    reply
      .header('content-type', file.type)
      .header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', CSP)
      .header('referrer-policy', 'no-referrer')
      .send(file.body);
  app.get('/', { config: { role: 'open' }, schema: { hide: true } }, async (_request, reply) => send(index, reply));
  for (const [path, file] of files) {
    if (path === '/index.html' || path.startsWith('/api/') || path.startsWith('/docs')) continue;
    app.get(path, { config: { role: 'open' }, schema: { hide: true } }, async (_request, reply) => send(file, reply));
  }
  return true;
}
