// Mutation testing of the modules where a silent bug costs most (docs/mutation.md):
// scripts/mutation.sh picks the module (--mutate) and keeps each module's report. Paths
// are relative to the repository root, where the script runs Stryker.
// @ts-check
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
const config = {
  testRunner: "vitest",
  vitest: { configFile: "test/mutation/vitest.config.ts", related: true },
  coverageAnalysis: "perTest",
  // The default set; scripts/mutation.sh names the module to mutate.
  mutate: [
    "src/coordinator/estimators/**/*.ts",
    "src/coordinator/journal.ts",
    "src/coordinator/task-table.ts",
    "src/coordinator/phases/recover.ts",
    "src/protocol/validate.ts",
    "src/protocol/messages.ts",
  ],
  // The machine is shared: one test process.
  concurrency: 1,
  reporters: ["clear-text", "progress-append-only", "html", "json"],
  htmlReporter: { fileName: "reports/mutation/mutation.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  ignorePatterns: ["dist", "runs", "out", "reports", ".tmp", "bench", "deploy", "examples", "test/integration", "test/chaos"],
  tempDirName: ".stryker-tmp",
  cleanTempDir: true,
  // A mutant that loops forever (a flipped loop bound in student-t.ts) times out: killed.
  timeoutMS: 10_000,
};
export default config;
