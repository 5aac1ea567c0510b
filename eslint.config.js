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
// Features and the CLI see a Store and the Ledger's public API, never a backend class or the
// ledger's internal appender (issue 11, item 9): a dialect difference is a capability flag, and
// appends go through Ledger.appendWith / appendPrepared.
const INTERNALS = [
  { group: ['**/store/postgres/*', '**/store/sqlite/*'], message: 'use the Store interface (src/store/store.ts) and its capability flags, not a concrete backend' },
  { group: ['**/ledger/appender', '**/ledger/appender.js'], message: "append through the Ledger's public API (appendWith, appendPrepared), not the internal appender" },
];
const layerRules = [
  { files: ['src/core/**/*.ts'], paths: NODE_IO, patterns: layer(['store', 'ledger', ...FEATURES, 'server', 'cli']) },
  { files: ['src/store/**/*.ts'], paths: [], patterns: layer(['ledger', ...FEATURES, 'server', 'cli']) },
  { files: ['src/ledger/**/*.ts'], paths: [], patterns: layer([...FEATURES, 'server', 'cli']) },
  ...FEATURES.map((f) => ({ files: [`src/${f}/**/*.ts`], paths: [], patterns: [...layer(['server', 'cli']), ...INTERNALS] })),
  // The server is used only by the CLI (`sealtrail serve`), never by the library entry points.
  { files: ['src/server/**/*.ts'], paths: [], patterns: [...layer(['cli']), ...INTERNALS] },
  { files: ['src/cli/**/*.ts'], paths: [], patterns: INTERNALS },
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
