import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    benchmark: { include: ["bench/**/*.bench.ts"] },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests spawn nats-server and worker processes; two cores do not
    // gain from running many files at once.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
