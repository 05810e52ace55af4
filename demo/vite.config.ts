import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));

// The demo imports 'pcl-defense' as a web app would; here it resolves to the library's source
// main entry (the platform-neutral core), so the demo always runs the code in this checkout.
export default defineConfig({
  root: here,
  base: './',
  resolve: { alias: { 'pcl-defense': path.resolve(here, '../src/index.ts') } },
  build: {
    outDir: path.resolve(here, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
    rollupOptions: { input: { index: path.resolve(here, 'index.html'), bench: path.resolve(here, 'bench.html') } },
  },
  preview: { port: 4173, strictPort: false },
});
