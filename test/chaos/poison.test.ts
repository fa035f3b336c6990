// Fault 7: a poison task, one that fails on every worker. The model is a TensorFlow.js
// layers model (model.json + weights.bin) whose input size (100) does not match the
// dataset's 784 features: the coordinator cannot tell before the run (it does not build
// the model), every worker fails every task. After workers.max_attempts (3) failures of
// one task the run stops with an error naming that task and the cause, instead of
// handing the task around for ever; the CLI exits 1.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunFailure } from "../../src/coordinator/run-failure.js";
import { runJob } from "../../src/coordinator/run.js";
import { writeLayersModel } from "../../src/model/layers-model-files.js";
import { mlpSnapshot } from "../../src/model/mlp.js";
import { startNats, uniquePrefix, type NatsFixture } from "../helpers/nats.js";
import { exitWithin, ProcessPool, spawnCoordinator, startWorkers } from "./fault-helpers.js";
import { chaosConfig, logCollector, workDir, writeConfig } from "./harness.js";

const MAX_ATTEMPTS = 3;

/** The cause every attempt ends with: the model's input shape against the examples'. */
const SHAPE_CAUSE = /shape \[100\].*shape \[784\]/;

/** Task ids name their phase and first pair: "theta/pairs#0". */
const TASK_ID = String.raw`theta/pairs#\d+`;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

describe("chaos: a task that fails on every worker", () => {
  const pool = new ProcessPool();
  let nats: NatsFixture;
  let url: string;
  let configPath: string;

  beforeAll(async () => {
    nats = await startNats();
    url = nats.server.url;
    const prefix = uniquePrefix("poison");
    // An MLP 100-8-10 saved as a layers model; the data have 784 features.
    const modelDir = join(workDir, "poison-model");
    const { modelJson } = await writeLayersModel(modelDir, mlpSnapshot({ layers: [100, 8, 10], activation: "tanh", seed: 1, init: "glorot_uniform" }));
    const yaml = chaosConfig(prefix, { maxAttempts: MAX_ATTEMPTS });
    const model = /^model: .*$/m;
    if (!model.test(yaml)) throw new Error(`no model line to replace in:\n${yaml}`);
    configPath = writeConfig("poison", yaml.replace(model, `model: {kind: layers, path: ${modelJson}}`));
    await startWorkers(pool, nats.nc, url, prefix, ["poison-w0", "poison-w1"]);
  });

  afterAll(async () => {
    await pool.stopAll();
    await nats?.close();
  });

  it("in process: runJob rejects after max_attempts, naming the task and the cause", async () => {
    const logs = logCollector();
    const out = join(workDir, "poison-inprocess");
    const err = await runJob({ configPath, natsUrl: url, outDir: out, stream: logs.stream }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err, `the run should fail\n--- log ---\n${logs.text()}`).toBeInstanceOf(RunFailure);
    const m = new RegExp(`task (${TASK_ID}) failed (\\d+) times; last cause: (.*)`).exec(err!.message);
    expect(m, err!.message).not.toBeNull();
    const [, taskId, times, cause] = m!;
    expect(Number(times)).toBe(MAX_ATTEMPTS);
    expect(cause).toMatch(SHAPE_CAUSE);
    // Each failure was reported as it happened, with the worker and the cause.
    expect(logs.text()).toMatch(new RegExp(`task ${escapeRegExp(taskId!)} failed on poison-w\\d \\(\\w+\\): .*`));
    expect(existsSync(join(out, "results.json")), "no results for a failed run").toBe(false);
    console.log(`[chaos poison] in process, max_attempts ${MAX_ATTEMPTS}: ${err!.message}`);
  });

  it("the CLI exits 1 with the task and the cause on stderr, not a hang", async () => {
    const run = pool.add(spawnCoordinator(["run", configPath, "--nats", url, "--out", join(workDir, "poison-cli")]));
    const code = await exitWithin(run, "the coordinator with a poison task");
    expect(code, run.stderr()).toBe(1);
    const last = run.stderr().trim().split("\n").at(-1) ?? "";
    expect(last).toMatch(new RegExp(`^coordinator: the run stops: task ${TASK_ID} failed ${MAX_ATTEMPTS} times; last cause: `));
    expect(last).toMatch(SHAPE_CAUSE);
    expect(run.stdout(), "no table of measures").toBe("");
    console.log(`[chaos poison] CLI exit ${code}: ${last}`);
  });
});
