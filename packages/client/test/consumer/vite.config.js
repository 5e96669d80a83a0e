// No React plugin: esbuild's automatic JSX runtime is all this build needs, and it keeps the
// fixture's install small (it runs on every CI run).
import { defineConfig } from 'vite';

export default defineConfig({
  esbuild: { jsx: 'automatic' },
  logLevel: 'warn',
  build: { outDir: 'dist', emptyOutDir: true },
});
