// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Layer arrows (README "Layout"): core ← store ← ledger ← features (capture, anchor, tasks, platform) ← server ← cli.
// Each block forbids imports pointing outward. Paths are matched as written in the import, so `**/cli/*`
// catches `../cli/x.js` and `../../cli/x.js` alike.
const layer = (/** @type {string[]} */ forbidden) => forbidden.map((dir) => ({
  group: [`**/${dir}/*`, `**/${dir}/**`],
  message: `layer arrow: this layer must not import src/${dir} (core ← store ← ledger ← features ← server ← cli)`,
}));
const NODE_IO = ['fs', 'fs/promises', 'net', 'child_process', 'worker_threads'].flatMap((m) => [m, `node:${m}`]).map((name) => ({
  name,
  message: 'src/core is pure: no file, network, process or thread I/O',
}));
const FEATURES = ['capture', 'anchor', 'tasks', 'pipeline', 'platform'];
const layerRules = [
  { files: ['src/core/**/*.ts'], paths: NODE_IO, patterns: layer(['store', 'ledger', ...FEATURES, 'server', 'cli']) },
  { files: ['src/store/**/*.ts'], paths: [], patterns: layer(['ledger', ...FEATURES, 'server', 'cli']) },
  { files: ['src/ledger/**/*.ts'], paths: [], patterns: layer([...FEATURES, 'server', 'cli']) },
  ...FEATURES.map((f) => ({ files: [`src/${f}/**/*.ts`], paths: [], patterns: layer(['server', 'cli']) })),
  // The server is used only by the CLI (`sealtrail serve`), never by the library entry points.
  { files: ['src/server/**/*.ts'], paths: [], patterns: layer(['cli']) },
  { files: ['src/*.ts'], paths: [], patterns: layer(['server', 'cli']) },
].map(({ files, paths, patterns }) => ({ files, rules: { 'no-restricted-imports': ['error', { paths, patterns }] } }));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  ...layerRules,
  {
    // Type-aware rules: a promise nobody awaits loses its error (and, in a ledger, maybe an entry).
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        // node:test's describe/it/test return promises the runner itself tracks; awaiting them is not the idiom.
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }],
      }],
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    files: ['scripts/**/*.mjs', 'eslint.config.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' } },
  },
);
