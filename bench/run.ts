/**
 * `npm run bench -- <name> [...]`: runs bench/<name>.ts and prints one JSON line per measurement.
 * Every comparative figure is a ratio against a baseline measured in the same run, so numbers
 * stay meaningful on whatever machine runs them.
 */
import { pathToFileURL } from 'node:url';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync, readdirSync } from 'node:fs';

export interface Measurement {
  bench: string;
  name: string;
  [key: string]: unknown;
}

export type Report = (measurement: Omit<Measurement, 'bench'>) => void;

const here = dirname(fileURLToPath(import.meta.url));
const names = process.argv.slice(2);
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'util.ts'].includes(f))
  .map((f) => f.slice(0, -3));
if (names.length === 0) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [...]`);
  process.exit(2);
}
for (const name of names) {
  const file = join(here, `${name}.ts`);
  if (!existsSync(file)) {
    console.error(`unknown bench "${name}"; available: ${available.join(', ')}`);
    process.exit(2);
  }
  const mod = (await import(pathToFileURL(file).href)) as { default: (report: Report) => Promise<void> };
  await mod.default((m) => console.log(JSON.stringify({ bench: name, ...m })));
}
