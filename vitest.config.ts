import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    benchmark: { include: ["bench/**/*.bench.ts"] },
    // A last resort only: tests that wait for a run follow its progress (the run's own
    // run.stall_timeout_s, waits that fail when nothing moved for a while), so a loaded
    // machine makes them slower, not red; a fixed budget here failed them on a busy CI.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    // Integration tests spawn nats-server and worker processes; two cores do not
    // gain from running many files at once.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
