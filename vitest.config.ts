import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // End-to-end files start real servers and bots; two workers match the 2-core machines.
    maxWorkers: 2,
  },
});
