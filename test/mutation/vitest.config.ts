import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// The unit tests that mutation testing (scripts/mutation.sh, docs/mutation.md) runs
// against the modules it mutates: fast, pure, no nats-server, no TensorFlow.js. Never
// test/integration or test/chaos (a mutant would run them hundreds of times), and not
// the protocol fuzz test either (seconds per run, and it asks only "valid or a
// ProtocolError", which a mutant of a limit passes).
export default defineConfig({
  // The globs below are the repository's, not this folder's.
  root: fileURLToPath(new URL("../..", import.meta.url)),
  test: {
    include: [
      "test/unit/estimators.*.test.ts",
      "test/unit/reduce.test.ts",
      "test/unit/journal*.test.ts",
      "test/unit/task-table.test.ts",
      "test/unit/dispatcher*.test.ts",
      "test/unit/phases-recover.test.ts",
      "test/unit/protocol-codec.test.ts",
      "test/unit/protocol-validate.test.ts",
      "test/unit/protocol-subjects.test.ts",
    ],
    testTimeout: 60_000,
  },
});
