import react from '@vitejs/plugin-react'
import { defineConfig } from 'vitest/config'

// The build lands in ../static (committed) and is served by the appliance under /ui/.
// It must stay deterministic: CI rebuilds it from `npm ci` and fails if it differs.
export default defineConfig({
  base: '/ui/',
  plugins: [react()],
  build: {
    outDir: '../static',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 800,
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
})
