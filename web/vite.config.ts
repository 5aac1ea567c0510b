// The explorer's build: web/ → dist/web, hashed assets under assets/ (served immutable).
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [preact()],
  build: {
    outDir: '../dist/web', emptyOutDir: true, assetsDir: 'assets', target: 'es2022', modulePreload: { polyfill: false },
    // elkjs (~1.5 MB) is its own chunk, loaded only by the pipelines view; the first view stays small.
    chunkSizeWarningLimit: 1600,
  },
});
